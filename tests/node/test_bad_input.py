"""Hostile and broken input: a clear failure status, kept for inspection, nothing outside the data dir."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset

from storage.models import Event
from tests.node.conftest import RunningNode, send_datasets
from tests.node.factory import make_series


def _dataset(tmp_path: Path) -> Dataset:
    [path] = make_series(tmp_path / "src", 1)
    return dcmread(path)


def _everything_under(root: Path) -> set[Path]:
    return {p.resolve() for p in root.rglob("*")}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("SOPInstanceUID", "../../x"),
        ("SeriesInstanceUID", "../../../../etc/evil"),
        ("StudyInstanceUID", "1.2." + "3" * 70),
        ("SeriesInstanceUID", "1.2.abc"),
    ],
)
def test_hostile_uid_is_refused_and_nothing_is_written_outside_the_data_dir(
    node: RunningNode, tmp_path: Path, field: str, value: str
) -> None:
    dataset = _dataset(tmp_path)
    setattr(dataset, field, value)
    if field == "SOPInstanceUID":
        dataset.file_meta.MediaStorageSOPInstanceUID = value
    outside_before = _everything_under(node.root.parent) - _everything_under(node.data_dir)
    [status] = send_datasets(node.port, [dataset])
    assert status == 0xC001
    outside_after = _everything_under(node.root.parent) - _everything_under(node.data_dir)
    assert outside_after - outside_before <= {node.log.resolve()}
    assert node.instance_rows() == 0 and node.files() == []
    assert len(list((node.data_dir / "quarantine" / "invalid-uid").iterdir())) == 1
    assert node.count(Event, Event.kind == "instance_refused") == 1


def test_missing_series_uid_is_refused_with_a_clear_status(node: RunningNode, tmp_path: Path) -> None:
    dataset = _dataset(tmp_path)
    del dataset.SeriesInstanceUID
    assert send_datasets(node.port, [dataset]) == [0xC001]


def test_truncated_pixel_data_is_refused(node: RunningNode, tmp_path: Path) -> None:
    dataset = _dataset(tmp_path)
    dataset.PixelData = dataset.PixelData[: len(dataset.PixelData) // 3]
    assert send_datasets(node.port, [dataset]) == [0xC000]
    assert len(list((node.data_dir / "quarantine" / "truncated").iterdir())) == 1


def test_node_survives_a_peer_that_hangs_up_mid_transfer(node: RunningNode, tmp_path: Path) -> None:
    import socket

    dataset = _dataset(tmp_path)
    with socket.create_connection(("127.0.0.1", node.port)) as raw:
        raw.sendall(b"\x01\x00\x00\x00\x10\x00garbage")  # a broken A-ASSOCIATE-RQ, then gone
    assert send_datasets(node.port, [dataset]) == [0x0000]
    assert node.instance_rows() == 1
