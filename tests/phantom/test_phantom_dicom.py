"""The phantom's files: valid DICOM, same seed same bytes, geometry that round-trips through the loader."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import nibabel as nib
import numpy as np
import pydicom
import pytest
from typer.testing import CliRunner

from dicomnode.cli import app
from dicomnode.phantom_dicom import case_name, header_variant, instance_order, write_case
from dicomnode.series_loader import load_series
from pipeline.phantom import generate
from tests.phantom import measure

FAST = {"supersample": 1}


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, Path]:
    case = generate(31, **FAST)
    folder = write_case(case, tmp_path_factory.mktemp("phantom"), png=True)
    return case, folder


def _non_ascii_seed() -> int:
    for seed in range(200):
        if not header_variant(SimpleNamespace(seed=seed, volume=SimpleNamespace(shape=(9, 1, 1))))[
            "patient_name"
        ].isascii():
            return seed
    raise AssertionError("no seed gives a non-ASCII name")


@pytest.mark.external
def test_series_is_valid_dicom_for_dciodvfy(written: tuple, tmp_path: Path) -> None:
    if shutil.which("dciodvfy") is None:
        pytest.skip("dciodvfy (Debian package dicom3tools) is not installed")
    _, folder = written
    stir = write_case(generate(_non_ascii_seed(), contrast="STIR", **FAST), tmp_path)
    enhanced = write_case(generate(33, contrast="STIR", **FAST), tmp_path / "enhanced", enhanced=True)
    files = sorted((folder / "dicom").glob("*.dcm"))[:3] + sorted((stir / "dicom").glob("*.dcm"))[:2]
    files += [enhanced / "dicom" / "EMR0001.dcm"]
    for path in files:
        result = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60)
        errors = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("Error")]
        assert not errors, f"{path.name}: {errors}"


def test_same_seed_writes_same_bytes(written: tuple, tmp_path: Path) -> None:
    case, folder = written
    again = write_case(generate(31, **FAST), tmp_path, png=True)
    names = sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    for name in names:
        assert (folder / name).read_bytes() == (again / name).read_bytes(), name
    other = write_case(generate(32, **FAST), tmp_path)
    assert (other / "truth.json").read_bytes() != (folder / "truth.json").read_bytes()
    assert case_name(case) == "phantom-000031-lumbar-T2"


def test_loader_reads_back_the_same_volume(written: tuple) -> None:
    case, folder = written
    loaded = load_series(folder / "dicom").volume
    assert loaded.shape == case.volume.shape
    assert np.array_equal(loaded.array, case.volume.array)
    assert np.allclose(loaded.direction, case.volume.direction, atol=1e-5)
    assert np.allclose(loaded.origin, case.volume.origin, atol=1e-3)
    assert np.allclose(loaded.spacing, case.volume.spacing, atol=1e-3)
    assert loaded.contrast == case.volume.contrast


def test_enhanced_mr_reads_back_the_same_volume(tmp_path: Path) -> None:
    case = generate(34, region="cervical", contrast="T1", **FAST)
    folder = write_case(case, tmp_path, enhanced=True)
    files = list((folder / "dicom").glob("*.dcm"))
    assert len(files) == 1
    ds = pydicom.dcmread(files[0])
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.4.1" and int(ds.NumberOfFrames) == case.volume.shape[0]
    loaded = load_series(folder / "dicom").volume
    assert np.array_equal(loaded.array, case.volume.array)
    assert np.allclose(loaded.direction, case.volume.direction, atol=1e-5)
    assert loaded.contrast == "T1"
    assert np.allclose(loaded.origin, case.volume.origin, atol=1e-3)


def test_label_nifti_is_on_the_series_grid(written: tuple) -> None:
    case, folder = written
    image = nib.load(folder / "labels.nii.gz")
    labels = np.asarray(image.dataobj)
    assert np.array_equal(labels, case.labels)
    ras_to_lps = np.diag([-1.0, -1.0, 1.0, 1.0])
    for vertebra in case.truth["vertebrae"]:
        if "centroid_lps" not in vertebra or measure.touches_border(labels, vertebra["label"]):
            continue
        index = np.argwhere(labels == vertebra["label"]).mean(axis=0)
        lps = (ras_to_lps @ image.affine @ np.append(index, 1.0))[:3]
        assert np.linalg.norm(lps - np.array(vertebra["centroid_lps"])) < 3.0, vertebra["name"]


def test_non_ascii_patient_name_round_trips(tmp_path: Path) -> None:
    seed = _non_ascii_seed()
    case = generate(seed, **FAST)
    folder = write_case(case, tmp_path)
    ds = pydicom.dcmread(sorted((folder / "dicom").glob("*.dcm"))[0])
    assert ds.SpecificCharacterSet == "ISO_IR 192"
    assert str(ds.PatientName) == header_variant(case)["patient_name"]


def test_instance_numbers_are_not_always_spatial() -> None:
    kinds = set()
    for seed in range(40):
        kind, numbers = instance_order(11, np.random.default_rng(seed))
        assert sorted(numbers) == list(range(1, 12))
        kinds.add(kind)
    assert kinds == {"spatial", "reversed", "interleaved"}


def test_command_writes_count_cases(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "phantom",
            "--out",
            str(tmp_path),
            "--seed",
            "3",
            "--count",
            "2",
            "--contrast",
            "T1",
            "--region",
            "cervical",
            "--png",
        ],
    )
    assert result.exit_code == 0, result.output
    folders = sorted(p.name for p in tmp_path.iterdir())
    assert folders == ["phantom-000003-cervical-T1", "phantom-000004-cervical-T1"]
    assert (tmp_path / folders[0] / "preview.png").stat().st_size > 1000
    bad = CliRunner().invoke(app, ["phantom", "--out", str(tmp_path), "--region", "knee"])
    assert bad.exit_code != 0


def test_same_study_writes_the_t2_and_t1_of_a_seed_as_one_study_in_one_frame_of_reference(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["phantom", "--out", str(tmp_path), "--seed", "41", "--contrast", "T2,T1"])
    assert result.exit_code == 0, result.output
    t2 = pydicom.dcmread(next((tmp_path / "phantom-000041-lumbar-T2" / "dicom").iterdir()))
    t1 = pydicom.dcmread(next((tmp_path / "phantom-000041-lumbar-T1" / "dicom").iterdir()))
    assert t2.StudyInstanceUID == t1.StudyInstanceUID and t2.FrameOfReferenceUID == t1.FrameOfReferenceUID
    assert t2.SeriesInstanceUID != t1.SeriesInstanceUID and t2.SeriesNumber != t1.SeriesNumber
    assert t2.PatientID == t1.PatientID and t2.PatientName == t1.PatientName
    alone = write_case(generate(41, contrast="T1", **FAST), tmp_path / "alone")
    t1_alone = pydicom.dcmread(next((alone / "dicom").iterdir()))
    assert t1_alone.StudyInstanceUID != t1.StudyInstanceUID  # without the option each case is its own study
    assert load_series(tmp_path / "phantom-000041-lumbar-T1" / "dicom").volume.contrast == "T1"
