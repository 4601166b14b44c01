"""T2 + T1 pairing in the running node: which T1 a T2 job gets, the wait for a T1 still arriving, a late T1.

Real C-STORE over loopback into `dicomnode serve` (no analysis workers: the queue is the point here;
tests/delivery/test_pairing_modic.py runs the model on a paired study).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from pydicom.uid import generate_uid
from sqlalchemy import select

from storage.models import Event, Job, Series
from storage.queue import job_key
from tests.node.conftest import RunningNode, wait_for
from tests.node.factory import make_series


def _series_id(node: RunningNode, series_uid: str) -> int:
    db = node.db()
    try:
        with db.session() as session:
            found = session.scalar(select(Series.id).where(Series.series_uid == series_uid))
            assert found is not None, f"series {series_uid} not indexed"
            return found
    finally:
        db.dispose()


def _jobs_of(node: RunningNode, series_uid: str) -> list[Job]:
    return [job for job in node.jobs() if job.series_id == _series_id(node, series_uid)]


def _study(tmp_path: Path, *, t1_frame: str | None = None) -> tuple[list[Path], list[Path], str, str]:
    """A T2 and a T1 sagittal series of one study; the T1 shares the T2's frame of reference unless
    ``t1_frame`` names another. Returns (T2 files, T1 files, T2 series UID, T1 series UID)."""
    study, frame = generate_uid(), generate_uid()
    t2_uid, t1_uid = generate_uid(), generate_uid()
    t2 = make_series(tmp_path / "t2", 6, study_uid=study, series_uid=t2_uid, frame_uid=frame,
                     description="T2 TSE SAG", series_number=3)
    t1 = make_series(tmp_path / "t1", 6, study_uid=study, series_uid=t1_uid, frame_uid=t1_frame or frame,
                     description="T1 TSE SAG", series_number=4)
    return t2, t1, t2_uid, t1_uid


def _trickle(node: RunningNode, files: list[Path], interval: float) -> threading.Thread:
    """Send one file per association every ``interval`` s (a PACS still sending), in the background."""

    def send() -> None:
        for path in files:
            node.storescu([path])
            time.sleep(interval)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


def test_t2_and_t1_sent_together_give_the_t2_job_the_t1_as_companion(node: RunningNode, tmp_path: Path) -> None:
    t2, t1, t2_uid, t1_uid = _study(tmp_path)
    node.storescu(t2 + t1)
    assert wait_for(lambda: len(node.jobs()) == 2, timeout=30), node.log.read_text()
    [t2_job] = _jobs_of(node, t2_uid)
    [t1_job] = _jobs_of(node, t1_uid)
    assert t2_job.companion_series_id == _series_id(node, t1_uid) and t2_job.companion_digest
    assert t1_job.companion_series_id is None  # the T1 is routed as before, analysed on its own
    alone = job_key(t2_uid, t2_job.instance_digest, t2_job.pipeline_version)
    assert t2_job.job_key != alone  # the T1's instances are part of the key, hence of the output UIDs
    detail = node.count(Event, Event.kind == "job_queued", Event.detail.like("%T1 companion series%"))
    assert detail == 1
    log = node.log.read_text()
    assert "T1 companion series" in log and "Müller" not in log and "TEST-0001" not in log


def test_a_t1_in_another_frame_of_reference_is_not_used(node: RunningNode, tmp_path: Path) -> None:
    t2, t1, t2_uid, _ = _study(tmp_path, t1_frame=generate_uid())
    node.storescu(t2 + t1)
    assert wait_for(lambda: len(node.jobs()) == 2, timeout=30), node.log.read_text()
    [t2_job] = _jobs_of(node, t2_uid)
    assert t2_job.companion_series_id is None
    assert node.count(Event, Event.kind == "companion_wait") == 0


def test_a_t2_job_waits_while_its_t1_is_still_receiving(node: RunningNode, tmp_path: Path) -> None:
    t2, t1, t2_uid, t1_uid = _study(tmp_path)
    node.storescu(t2)
    sender = _trickle(node, t1, interval=0.8)  # about 6 s of T1, three times the 2 s quiet period
    assert wait_for(lambda: node.count(Event, Event.kind == "companion_wait") == 1, timeout=20), node.log.read_text()
    while sender.is_alive():
        assert not _jobs_of(node, t2_uid), "the T2 was queued while its T1 was still arriving"
        time.sleep(0.2)
    assert wait_for(lambda: len(node.jobs()) == 2, timeout=30), node.log.read_text()
    [t2_job] = _jobs_of(node, t2_uid)
    assert t2_job.companion_series_id == _series_id(node, t1_uid)
    assert "waiting up to 300 s for T1 series" in node.log.read_text()


def test_a_t1_completing_after_the_wait_gives_the_t2_one_new_job_and_never_a_duplicate(
    node_factory, tmp_path: Path
) -> None:
    node: RunningNode = node_factory("[series]\ncompanion_wait_s = 1.0")
    t2, t1, t2_uid, t1_uid = _study(tmp_path)
    node.storescu(t2)
    sender = _trickle(node, t1, interval=0.8)
    # The wait is bounded: the T2 is queued alone while the T1 still trickles in...
    assert wait_for(lambda: len(_jobs_of(node, t2_uid)) == 1, timeout=20), node.log.read_text()
    assert _jobs_of(node, t2_uid)[0].companion_series_id is None
    sender.join(timeout=30)
    # ...and queued again with it once the T1 is complete: a new key, so new outputs with Modic types.
    assert wait_for(lambda: len(_jobs_of(node, t2_uid)) == 2, timeout=30), node.log.read_text()
    first, second = _jobs_of(node, t2_uid)
    assert second.companion_series_id == _series_id(node, t1_uid) and first.job_key != second.job_key
    assert first.instance_digest == second.instance_digest
    node.storescu(t1 + t2)  # the PACS sends the whole study again: identical instances, no new job
    time.sleep(4)
    assert len(_jobs_of(node, t2_uid)) == 2 and len(_jobs_of(node, t1_uid)) == 1
