"""The worker inside `dicomnode serve`: claim, load, analyse, record, and the failure path to dead."""

from __future__ import annotations

from pathlib import Path

from pydicom import dcmread

from storage.models import Event, JobState, Output
from tests.node.conftest import RunningNode, wait_for
from tests.node.factory import make_series


def test_a_series_that_cannot_be_loaded_fails_is_retried_then_dead(node_factory, tmp_path: Path) -> None:
    node: RunningNode = node_factory("[pipeline]\nworkers = 1\nmax_attempts = 2\nretry_backoff_s = 0.2")
    files = make_series(tmp_path / "s", 8)
    for path in files[4:]:  # half the slices with another pixel spacing: not one regular stack
        dataset = dcmread(path)
        dataset.PixelSpacing = [0.5, 0.5]
        dataset.save_as(path)
    node.storescu(files)
    assert wait_for(lambda: [j.state for j in node.jobs()] == [JobState.dead], timeout=60), node.log.read_text()
    [job] = node.jobs()
    assert job.attempts == 2 and "spacing" in (job.error or "").lower()
    assert node.count(Event, Event.kind == "job_failed") == 1
    assert node.count(Event, Event.kind == "job_dead") == 1
    assert node.count(Output) == 0
    log = node.log.read_text()
    assert f"job {job.id} failed" in log
