"""A real PACS round trip: Orthanc sends a series to the node with its own REST API, the node analyses it
and sends SEG, SR and pictures back into the same study; and a PACS that is down gets them once, later.

These tests run the bundled model on the CPU: they are the slowest of the suite (about a minute each).
"""

from __future__ import annotations

import io
import threading
from pathlib import Path

from pydicom import dcmread

from storage.models import Delivery
from tests.delivery.conftest import NAME
from tests.node.conftest import RunningNode, wait_for
from tests.orthanc import Orthanc

EXPECTED_OUTPUT_MODALITIES = {"SEG", "SR"}


def _study_series(orthanc: Orthanc, study_id: str) -> list[dict]:
    return [orthanc.get(f"/series/{s}") for s in orthanc.get(f"/studies/{study_id}")["Series"]]


def _modalities(orthanc: Orthanc, study_id: str) -> set[str]:
    return {s["MainDicomTags"].get("Modality", "") for s in _study_series(orthanc, study_id)}


def test_orthanc_sends_a_series_and_gets_seg_sr_and_picture_back_in_the_same_study(
    pacs_and_node: tuple[Orthanc, RunningNode], phantom_files: list[Path]
) -> None:
    orthanc, node = pacs_and_node
    study_id = orthanc.push_series(phantom_files, "dicomnode")
    assert node.instance_rows() == len(phantom_files)
    def results_arrived() -> bool:
        return (EXPECTED_OUTPUT_MODALITIES | {"MR"} <= _modalities(orthanc, study_id)
                and len(_study_series(orthanc, study_id)) >= 4)

    assert wait_for(results_arrived, timeout=400, interval=2), node.log.read_text()[-3000:]
    series = _study_series(orthanc, study_id)
    assert len(orthanc.get("/studies")) == 1  # the results joined the source study
    descriptions = " ".join(s["MainDicomTags"].get("SeriesDescription", "") for s in series)
    assert "research" in descriptions.lower() or "not for primary diagnosis" in descriptions.lower()
    patient = orthanc.get(f"/studies/{study_id}")["PatientMainDicomTags"]["PatientName"]
    assert patient == NAME
    seg_series = next(s for s in series if s["MainDicomTags"]["Modality"] == "SEG")
    [seg_instance] = seg_series["Instances"]
    seg = dcmread(io.BytesIO(orthanc.get(f"/instances/{seg_instance}/file")))
    assert str(seg.PatientName) == NAME and seg.StudyInstanceUID == dcmread(phantom_files[0]).StudyInstanceUID


def test_pacs_down_during_delivery_gets_every_output_exactly_once_when_back(
    pacs_and_node: tuple[Orthanc, RunningNode], phantom_files: list[Path]
) -> None:
    orthanc, node = pacs_and_node
    orthanc.push_series(phantom_files, "dicomnode")
    orthanc.stop()  # the PACS goes down while the node analyses
    assert wait_for(lambda: node.count(Delivery) > 0, timeout=400, interval=1), node.log.read_text()[-3000:]
    assert wait_for(lambda: all(d >= 1 for d in _attempts(node)), timeout=60)
    expected = node.count(Delivery)
    orthanc.start({"dicomnode": ["DICOMNODE", "127.0.0.1", node.port]})
    sources = len(phantom_files)
    assert wait_for(lambda: orthanc.instance_count() == sources + expected, timeout=120, interval=1)
    threading.Event().wait(5)  # a duplicate send would show up now
    assert orthanc.instance_count() == sources + expected
    assert len(orthanc.get("/studies")) == 1


def _attempts(node: RunningNode) -> list[int]:
    db = node.db()
    try:
        with db.session() as session:
            return [d.attempts for d in session.query(Delivery)]
    finally:
        db.dispose()
