"""Fixtures of the delivery tests: the real node, a real Orthanc wired to it, a phantom series."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from dicomnode.phantom_dicom import series_datasets
from pipeline.phantom import generate
from tests.node.conftest import RunningNode, free_port, node_factory  # noqa: F401
from tests.orthanc import Orthanc, make_orthanc

NAME = "Šťastná^Zoë Ærøskøbing"


@pytest.fixture
def phantom_files(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "phantom"
    folder.mkdir()
    paths = []
    for index, dataset in enumerate(series_datasets(generate(11, region="lumbar", contrast="T2"))):
        dataset.SpecificCharacterSet = "ISO_IR 192"
        dataset.PatientName = NAME
        path = folder / f"{index:03d}.dcm"
        dataset.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


@pytest.fixture
def pacs_and_node(tmp_path: Path, node_factory) -> Iterator[tuple[Orthanc, RunningNode]]:  # type: ignore[no-untyped-def]  # noqa: F811
    if shutil.which("Orthanc") is None and not Path("/usr/sbin/Orthanc").exists():
        if os.environ.get("CI"):
            pytest.fail("Orthanc is required in CI")
        pytest.skip("Orthanc not installed (apt-get install orthanc)")
    orthanc = make_orthanc(tmp_path / "orthanc")
    node_port = free_port()
    node = node_factory(
        f"""
        [node]
        port = {node_port}
        [security]
        allowed_calling_ae_titles = ["ORTHANC"]
        [pipeline]
        workers = 1
        [delivery]
        backoff_initial_s = 1.0
        backoff_max_s = 2.0
        [[destinations]]
        name = "orthanc"
        ae_title = "ORTHANC"
        host = "127.0.0.1"
        port = {orthanc.dicom_port}
        outputs = ["seg", "sr", "picture"]
        """,
        start=False,
    )
    node.port = node_port
    node.start()
    orthanc.start({"dicomnode": ["DICOMNODE", "127.0.0.1", node_port]})
    yield orthanc, node
    orthanc.stop()


