"""A T2 sent with its T1 gets Modic types; a T2 alone says why it has none. The bundled model on the CPU.

Two phantom studies go to the node over C-STORE: seed 11 as T2 + T1 of one study and one frame of
reference (the same patient in both contrasts), seed 12 as a T2 alone. The T1 is routed "ignore" here,
only to spare the test a third analysis: an ignored T1 still serves as companion.
"""

from __future__ import annotations

import json
from pathlib import Path

import pydicom

from dicomnode.phantom_dicom import header_variant, series_datasets
from pipeline.phantom import generate
from storage.models import Event, JobState
from tests.node.conftest import RunningNode, wait_for

ROUTING = """
[[routing.rules]]
name = "t1-companion-only"
action = "ignore"
series_description_include = "(?i)t1"
[[routing.rules]]
name = "sagittal-spine-mr"
modality = ["MR"]
plane = "sagittal"
min_slices = 5
"""


def _write(folder: Path, datasets: list) -> list[Path]:  # type: ignore[type-arg]
    folder.mkdir(parents=True)
    paths = []
    for index, dataset in enumerate(datasets):
        path = folder / f"{index:03d}.dcm"
        dataset.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def _modic(findings: dict) -> list[dict]:
    return [g for level in findings["levels"] for g in level["grades"] if g["name"].startswith("modic_")]


def test_t2_with_its_t1_gets_modic_types_and_a_t2_alone_says_not_assessed(node_factory, tmp_path: Path) -> None:
    node: RunningNode = node_factory("[pipeline]\nworkers = 1\n" + ROUTING)
    paired_case = generate(11, region="lumbar", contrast="T2")
    t2 = _write(tmp_path / "a-t2", series_datasets(paired_case, same_study=True))
    t1 = _write(tmp_path / "a-t1", series_datasets(generate(11, region="lumbar", contrast="T1"), same_study=True))
    alone = _write(tmp_path / "b-t2", series_datasets(generate(12, region="lumbar", contrast="T2")))
    node.storescu(t2 + t1 + alone)

    def analysed() -> bool:
        jobs = node.jobs()
        return len(jobs) == 2 and all(job.state == JobState.succeeded for job in jobs)

    assert wait_for(analysed, timeout=500, interval=2), node.log.read_text()[-3000:]
    outbox = node.data_dir / "outbox"
    by_series = {}
    for job in node.jobs():
        findings = json.loads((outbox / f"job-{job.id}" / "findings.json").read_text())
        by_series[findings["source_series"]["series_instance_uid"]] = (job, findings)
    t1_uid = str(pydicom.dcmread(t1[0]).SeriesInstanceUID)

    job, paired = by_series[str(pydicom.dcmread(t2[0]).SeriesInstanceUID)]
    assert paired["t1_companion"]["series_instance_uid"] == t1_uid
    assert paired["t1_companion"]["contrast"] == "T1"
    typed = [g for g in _modic(paired) if g["assessed"]]
    # Typed at all is the point here (the values are the grading's, measured in docs/grading.md).
    assert typed and {g["value"] for g in typed} <= {"0", "I", "II", "III"}
    assert node.count(Event, Event.kind == "companion_used", Event.job_id == job.id) == 1
    sr = next((outbox / f"job-{job.id}").glob("sr-*.dcm"))
    evidence = {s.SeriesInstanceUID for study in pydicom.dcmread(sr).CurrentRequestedProcedureEvidenceSequence
                for s in study.ReferencedSeriesSequence}
    assert t1_uid in evidence

    _, single = by_series[str(pydicom.dcmread(alone[0]).SeriesInstanceUID)]
    assert single["t1_companion"] is None and "no complete sagittal T1" in single["t1_companion_note"]
    assert _modic(single) and not any(g["assessed"] for g in _modic(single))
    assert any("T1" in g["note"] for g in _modic(single))

    log = node.log.read_text()
    assert "T1 companion series" in log
    variant = header_variant(paired_case)
    assert variant["patient_name"] not in log and variant["patient_id"] not in log
