"""`dicomnode process DIR --out OUT` writes SEG, SR, pictures and findings.json, reproducibly."""

from __future__ import annotations

import json
from pathlib import Path

import pydicom
import pytest
from typer.testing import CliRunner

from dicomnode.cli import app
from dicomnode.commands import process as process_module
from tests.results.factory import CONVENTIONS, make_analysis, write_series


@pytest.fixture(scope="module")
def series_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One series is enough here: the conventions are covered by the builder tests."""
    folder = tmp_path_factory.mktemp("process-src")
    write_series(folder, CONVENTIONS[2])
    return folder


@pytest.fixture
def fake_pipeline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stand in for pipeline.spine.analyse_spine (model weights are not needed to test the command)."""
    monkeypatch.setattr(process_module, "_default_analyse", lambda fine_pass=True: make_analysis)


def test_process_writes_every_output(series_dir: Path, tmp_path: Path, fake_pipeline: None) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["process", str(series_dir), "--out", str(out), "--gsps"])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "findings.json",
        "gsps-1.dcm",
        "picture-1.dcm",
        "picture-2.dcm",
        "picture-3.dcm",
        "seg-1.dcm",
        "sr-1.dcm",
    ]
    findings = json.loads((out / "findings.json").read_text())
    assert [lv["level"] for lv in findings["levels"]] == ["L3/L4", "L4/L5", "L5/S1"]
    assert "Not for primary diagnosis" in findings["disclaimer"]
    assert "L4/L5" in result.output and "Müller" not in result.output  # no patient identifiers printed


def test_process_is_reproducible(series_dir: Path, tmp_path: Path, fake_pipeline: None) -> None:
    uids = []
    for run in ("a", "b"):
        out = tmp_path / run
        result = CliRunner().invoke(app, ["process", str(series_dir), "--out", str(out)])
        assert result.exit_code == 0, result.output
        uids.append(pydicom.dcmread(out / "seg-1.dcm").SOPInstanceUID)
    assert uids[0] == uids[1]


def test_process_refuses_a_broken_series_with_a_clear_message(tmp_path: Path, fake_pipeline: None) -> None:
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(app, ["process", str(tmp_path / "empty"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "no DICOM image files" in result.output


def test_process_refuses_a_bad_uid_root(series_dir: Path, tmp_path: Path, fake_pipeline: None) -> None:
    result = CliRunner().invoke(app, ["process", str(series_dir), "--out", str(tmp_path), "--uid-root", "1.02"])
    assert result.exit_code == 2
    assert "uid_root" in result.output


def _as_t1(series_dir: Path, out: Path, frame_uid: str | None = None) -> Path:
    """A copy of the series as a T1 series of the same study (and frame of reference, unless given)."""
    out.mkdir()
    series_uid = pydicom.uid.generate_uid()
    for path in sorted(p for p in series_dir.rglob("*") if p.is_file()):
        ds = pydicom.dcmread(path)
        ds.SeriesInstanceUID = series_uid
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
        ds.SeriesDescription, ds.SeriesNumber, ds.EchoTime, ds.RepetitionTime = "T1_SE_SAG", 7, 12, 500
        ds.ProtocolName = ds.SeriesDescription
        if frame_uid is not None:
            ds.FrameOfReferenceUID = frame_uid
        ds.save_as(out / path.name, enforce_file_format=True)
    return out


def test_process_with_t1_hands_it_to_the_grading_and_names_it(
    series_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = []

    def analyse(volume, t1=None):  # type: ignore[no-untyped-def]
        seen.append(t1)
        return make_analysis(volume)

    monkeypatch.setattr(process_module, "_default_analyse", lambda fine_pass=True: analyse)
    t1_dir = _as_t1(series_dir, tmp_path / "t1")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["process", str(series_dir), "--t1", str(t1_dir), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert seen[0] is not None and seen[0].contrast == "T1"
    findings = json.loads((out / "findings.json").read_text())
    t1_uid = pydicom.dcmread(next(t1_dir.iterdir())).SeriesInstanceUID
    assert findings["t1_companion"]["series_instance_uid"] == t1_uid
    assert findings["t1_companion"]["series_number"] == 7
    sr = pydicom.dcmread(out / "sr-1.dcm")
    evidence = {s.SeriesInstanceUID for study in sr.CurrentRequestedProcedureEvidenceSequence
                for s in study.ReferencedSeriesSequence}
    assert t1_uid in evidence
    texts = [str(e.value) for e in sr.iterall() if e.keyword == "TextValue"]
    assert any(f"Series Instance UID {t1_uid}" in text and "T1_SE_SAG" in text for text in texts)  # T1COMPANION
    alone = tmp_path / "alone"
    assert CliRunner().invoke(app, ["process", str(series_dir), "--out", str(alone)]).exit_code == 0
    assert pydicom.dcmread(alone / "seg-1.dcm").SOPInstanceUID != pydicom.dcmread(out / "seg-1.dcm").SOPInstanceUID
    assert json.loads((alone / "findings.json").read_text())["t1_companion"] is None


def test_process_refuses_a_t1_from_another_frame_of_reference(
    series_dir: Path, tmp_path: Path, fake_pipeline: None
) -> None:
    t1_dir = _as_t1(series_dir, tmp_path / "t1", frame_uid=pydicom.uid.generate_uid())
    result = CliRunner().invoke(app, ["process", str(series_dir), "--t1", str(t1_dir), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "another frame of reference" in result.output


def test_no_fine_pass_reaches_the_pipeline(series_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[bool] = []

    def default_analyse(fine_pass: bool = True):  # type: ignore[no-untyped-def]
        asked.append(fine_pass)
        return make_analysis

    monkeypatch.setattr(process_module, "_default_analyse", default_analyse)
    result = CliRunner().invoke(app, ["process", str(series_dir), "--out", str(tmp_path / "out"), "--no-fine-pass"])
    assert result.exit_code == 0, result.output
    assert asked == [False]
