"""The outbox sender against real peers: Orthanc as the PACS, retries, dead letters, no duplicates."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom import dcmread

from dicomnode.config import Destination, Settings
from dicomnode.send import DestinationSender, make_outbox
from storage.db import Database
from storage.filestore import FileStore
from storage.models import Delivery, DeliveryState, Event, Job, Series, Study
from storage.outbox import OutputFile, record_outputs
from tests.node.conftest import free_port
from tests.node.factory import make_series
from tests.orthanc import Orthanc, make_orthanc


@pytest.fixture
def orthanc(tmp_path: Path) -> Iterator[Orthanc]:
    if shutil.which("Orthanc") is None and not Path("/usr/sbin/Orthanc").exists():
        if os.environ.get("CI"):
            pytest.fail("Orthanc is required in CI")
        pytest.skip("Orthanc not installed (apt-get install orthanc)")
    pacs = make_orthanc(tmp_path / "orthanc").start()
    yield pacs
    pacs.stop()


def _outbox_with_files(tmp_path: Path, destinations: list[Destination], count: int = 3):  # type: ignore[no-untyped-def]
    settings = Settings(destinations=destinations)
    settings.storage.data_dir = tmp_path / "data"
    settings.delivery.backoff_initial_s = 0
    store = FileStore(settings.storage.data_dir)
    store.prepare()
    db = Database(f"sqlite:///{tmp_path / 'data' / 'db.sqlite'}")
    db.upgrade()
    files = make_series(store.outbox / "job-1", count)
    with db.session() as session:
        study = Study(study_uid="1.2.3")
        session.add(study)
        session.flush()
        series = Series(series_uid="1.2.3.4", study_id=study.id)
        session.add(series)
        session.flush()
        job = Job(job_key="k", series_id=series.id, instance_digest="d", instance_count=count,
                  pipeline_version="t")
        session.add(job)
        session.flush()
        outputs = []
        for path in files:
            ds = dcmread(path, stop_before_pixels=True)
            outputs.append(OutputFile("seg", store.relative(path), ds.SOPInstanceUID, ds.SOPClassUID,
                                      ds.file_meta.TransferSyntaxUID))
        record_outputs(session, job.id, outputs, {d.name: list(d.outputs) for d in destinations})
    return settings, db, store


def _states(db: Database) -> list[str]:
    with db.session() as session:
        return [d.state.value for d in session.query(Delivery).order_by(Delivery.id)]


def test_outputs_arrive_in_orthanc_once_each(tmp_path: Path, orthanc: Orthanc) -> None:
    destination = Destination(name="pacs", ae_title="ORTHANC", host="127.0.0.1", port=orthanc.dicom_port)
    settings, db, store = _outbox_with_files(tmp_path, [destination])
    sender = DestinationSender(settings, destination, make_outbox(settings, db), store)
    assert sender.send_due() == 3
    assert sender.send_due() == 0  # nothing left: no resend
    assert _states(db) == ["sent"] * 3
    assert orthanc.instance_count() == 3


def test_pacs_down_is_retried_and_everything_arrives_once_when_it_is_back(tmp_path: Path) -> None:
    pacs = make_orthanc(tmp_path / "orthanc")
    destination = Destination(name="pacs", ae_title="ORTHANC", host="127.0.0.1", port=pacs.dicom_port)
    settings, db, store = _outbox_with_files(tmp_path, [destination])
    sender = DestinationSender(settings, destination, make_outbox(settings, db), store)
    assert sender.send_due() == 3  # PACS not running: every delivery failed, pending again
    assert _states(db) == ["pending"] * 3
    with db.session() as session:
        assert all(d.attempts == 1 and "association" in (d.last_error or "") for d in session.query(Delivery))
    pacs.start()
    try:
        assert sender.send_due() == 3
        assert _states(db) == ["sent"] * 3
        assert pacs.instance_count() == 3
    finally:
        pacs.stop()


def test_one_failing_destination_does_not_hold_up_another(tmp_path: Path, orthanc: Orthanc) -> None:
    good = Destination(name="pacs", ae_title="ORTHANC", host="127.0.0.1", port=orthanc.dicom_port)
    bad = Destination(name="gone", ae_title="GONE", host="127.0.0.1", port=free_port())
    settings, db, store = _outbox_with_files(tmp_path, [good, bad])
    outbox = make_outbox(settings, db)
    DestinationSender(settings, bad, outbox, store).send_due()
    assert DestinationSender(settings, good, outbox, store).send_due() == 3
    with db.session() as session:
        by_destination = {(d.destination, d.state.value) for d in session.query(Delivery)}
    assert by_destination == {("pacs", "sent"), ("gone", "pending")}
    assert orthanc.instance_count() == 3


def test_rejections_are_retried_a_limited_number_of_times_then_dead_and_revivable(tmp_path: Path) -> None:
    """A peer that answers every C-STORE with Out of Resources: retried twice, then dead, then revived."""
    from pynetdicom import AE, AllStoragePresentationContexts, evt

    refusing = AE(ae_title="FULLPACS")
    refusing.supported_contexts = AllStoragePresentationContexts
    port = free_port()
    server = refusing.start_server(("127.0.0.1", port), block=False,
                                   evt_handlers=[(evt.EVT_C_STORE, lambda event: 0xA700)])
    try:
        destination = Destination(name="full", ae_title="FULLPACS", host="127.0.0.1", port=port)
        settings, db, store = _outbox_with_files(tmp_path, [destination], count=1)
        settings.delivery.rejected_max_attempts = 2
        outbox = make_outbox(settings, db)
        sender = DestinationSender(settings, destination, outbox, store)
        sender.send_due()
        assert _states(db) == ["pending"]
        sender.send_due()
        assert _states(db) == ["dead"]
        with db.session() as session:
            delivery = session.query(Delivery).one()
            assert delivery.last_status == 0xA700 and delivery.attempts == 2
            assert session.query(Event).filter(Event.kind == "delivery_attempt").count() == 2
        assert outbox.retry(delivery.id)
        assert _states(db) == [DeliveryState.pending.value]
    finally:
        server.shutdown()
