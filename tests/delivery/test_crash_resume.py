"""kill -9 while a job runs: after restart the job runs again and the PACS holds one copy of each result."""

from __future__ import annotations

import time
from pathlib import Path

from storage.models import Job, JobState
from tests.delivery.test_orthanc_roundtrip import _modalities
from tests.node.conftest import RunningNode, wait_for
from tests.orthanc import Orthanc


def _seg_and_sr_counts(orthanc: Orthanc) -> tuple[int, int]:
    counts = {"SEG": 0, "SR": 0}
    for series_id in orthanc.get("/series"):
        series = orthanc.get(f"/series/{series_id}")
        modality = series["MainDicomTags"].get("Modality")
        if modality in counts:
            counts[modality] += len(series["Instances"])
    return counts["SEG"], counts["SR"]


def test_crash_while_the_job_runs_resumes_and_sends_each_result_once(
    pacs_and_node: tuple[Orthanc, RunningNode], phantom_files: list[Path]
) -> None:
    orthanc, node = pacs_and_node
    study_id = orthanc.push_series(phantom_files, "dicomnode")
    assert wait_for(lambda: node.count(Job, Job.state == JobState.running) == 1, timeout=60, interval=0.05)
    node.kill()
    node.start()
    assert wait_for(lambda: {"SEG", "SR"} <= _modalities(orthanc, study_id), timeout=300, interval=1), \
        node.log.read_text()[-3000:]
    assert wait_for(lambda: node.count(Job, Job.state == JobState.succeeded) == 1, timeout=60)
    time.sleep(3)
    assert _seg_and_sr_counts(orthanc) == (1, 1)
    [job] = node.jobs()
    assert job.attempts == 2  # the killed attempt and the one that finished
