"""The loader turns any sagittal convention into one Volume whose geometry matches the physical phantom."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from dicomnode.series_loader import LoadedSeries, SeriesLoadError, contrast_hint, load_series
from tests.results.factory import CONVENTIONS, Convention, expected_label_map, phantom_labels, write_series


def test_slices_are_sorted_by_position_along_the_normal_not_instance_number(loaded: LoadedSeries) -> None:
    vol = loaded.volume
    positions = [np.asarray(ds.ImagePositionPatient, dtype=float) @ vol.direction[:, 0] for ds in loaded.datasets]
    assert np.all(np.diff(positions) > 0)
    assert vol.shape == (9, 64, 64)
    assert vol.spacing == pytest.approx((3.0, 2.0, 2.0), abs=1e-3)
    assert np.allclose(vol.origin, np.asarray(loaded.datasets[0].ImagePositionPatient, dtype=float))


def test_volume_geometry_matches_the_physical_phantom(loaded: LoadedSeries) -> None:
    """Bright voxels (discs, CSF) of the loaded array sit where the phantom puts discs and canal."""
    truth = expected_label_map(loaded.volume)
    bright = loaded.volume.array > 700
    assert (truth[bright] >= 100).mean() > 0.97
    assert loaded.volume.array.dtype == np.float32


def test_contrast_hint_and_metadata_have_no_identifiers(loaded: LoadedSeries) -> None:
    assert loaded.volume.contrast == "T2"
    assert "PatientName" not in loaded.volume.metadata
    assert loaded.volume.metadata["SeriesDescription"] == "T2_TSE_SAG"


@pytest.mark.parametrize("convention", CONVENTIONS, ids=[c.name for c in CONVENTIONS])
def test_enhanced_mr_gives_the_same_volume_as_classic_files(tmp_path: Path, convention: Convention) -> None:
    classic = load_series(write_series(tmp_path / "classic", convention, seed=3))
    enhanced = load_series(write_series(tmp_path / "enhanced", convention, enhanced=True, seed=3))
    assert enhanced.is_multiframe
    assert np.allclose(enhanced.volume.origin, classic.volume.origin, atol=1e-3)
    assert np.allclose(enhanced.volume.direction, classic.volume.direction, atol=1e-6)
    # Pixel values were stored halved with RescaleSlope 2: the loader must apply the slope.
    assert np.allclose(enhanced.volume.array, classic.volume.array, atol=1.0)
    # to_source_order puts slice k back in its frame.
    frames = enhanced.to_source_order(np.arange(9))
    assert [enhanced.frame_numbers[int(k)] for k in frames] == list(range(1, 10))


def _copy_series(series_dir: Path, dest: Path) -> list[Path]:
    dest.mkdir()
    out = []
    for p in sorted(series_dir.iterdir()):
        (dest / p.name).write_bytes(p.read_bytes())
        out.append(dest / p.name)
    return out


def test_a_missing_slice_is_reported_as_irregular_spacing(series_dir: Path, tmp_path: Path) -> None:
    files = _copy_series(series_dir, tmp_path / "s")
    by_position = sorted(files, key=lambda p: float(pydicom.dcmread(p).SliceLocation))
    by_position[4].unlink()
    with pytest.raises(SeriesLoadError, match="irregular slice spacing"):
        load_series(tmp_path / "s")


def test_two_orientations_are_refused(series_dir: Path, tmp_path: Path) -> None:
    files = _copy_series(series_dir, tmp_path / "s")
    ds = pydicom.dcmread(files[0])
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.save_as(files[0])
    with pytest.raises(SeriesLoadError, match="different ImageOrientationPatient"):
        load_series(files)


def test_duplicate_positions_are_refused(series_dir: Path, tmp_path: Path) -> None:
    files = _copy_series(series_dir, tmp_path / "s")
    ds = pydicom.dcmread(files[0])
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.save_as(tmp_path / "s" / "dup.dcm")
    with pytest.raises(SeriesLoadError, match="share one position"):
        load_series(tmp_path / "s")


def test_mixed_series_and_axial_stacks_are_refused(series_dir: Path, tmp_path: Path) -> None:
    files = _copy_series(series_dir, tmp_path / "s")
    ds = pydicom.dcmread(files[0])
    ds.SeriesInstanceUID = pydicom.uid.generate_uid()
    ds.save_as(files[0])
    with pytest.raises(SeriesLoadError, match="different series"):
        load_series(files)
    for p in files:
        ds = pydicom.dcmread(p)
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.SeriesInstanceUID = "1.2.3"
        ds.save_as(p)
    with pytest.raises(SeriesLoadError, match="not sagittal"):
        load_series(files)


def test_non_dicom_files_are_skipped_and_empty_folders_refused(series_dir: Path, tmp_path: Path) -> None:
    _copy_series(series_dir, tmp_path / "s")
    (tmp_path / "s" / "README.txt").write_text("not dicom")
    assert load_series(tmp_path / "s").volume.shape[0] == 9
    (tmp_path / "empty").mkdir()
    with pytest.raises(SeriesLoadError, match="no DICOM image files"):
        load_series(tmp_path / "empty")


@pytest.mark.parametrize(
    ("description", "expected"),
    [
        ("T2_TSE_SAG", "T2"),
        ("sag t1 tse", "T1"),
        ("t2_tirm_sag", "STIR"),
        ("STIR SAG", "STIR"),
        ("localizer", None),
        ("t2*_me2d", None),
    ],
)
def test_contrast_hint_from_descriptions(description: str, expected: str | None) -> None:
    ds = pydicom.Dataset()
    ds.SeriesDescription = description
    assert contrast_hint(ds) == expected


def test_contrast_hint_from_timing() -> None:
    ds = pydicom.Dataset()
    ds.RepetitionTime, ds.EchoTime = 550, 10
    assert contrast_hint(ds) == "T1"
    ds.RepetitionTime, ds.EchoTime = 4000, 110
    assert contrast_hint(ds) == "T2"


def test_phantom_puts_l4_in_the_middle_and_the_canal_behind() -> None:
    from pipeline.labels import CANAL, VERTEBRA_LABELS

    assert phantom_labels(np.array([0.0, 0.0, 14.0])) == VERTEBRA_LABELS["L4"]
    assert phantom_labels(np.array([0.0, 18.0, 14.0])) == CANAL  # +y is posterior in LPS


def test_undecodable_pixel_data_names_the_transfer_syntax(series_dir: Path, tmp_path: Path) -> None:
    files = _copy_series(series_dir, tmp_path / "s")
    ds = pydicom.dcmread(files[0])
    ds.PixelData = b"\x00" * 10  # truncated
    ds.save_as(files[0])
    with pytest.raises(SeriesLoadError, match="cannot decode the pixel data"):
        load_series(files)


def test_raw_datasets_without_preamble_are_read(series_dir: Path, tmp_path: Path) -> None:
    files = _copy_series(series_dir, tmp_path / "s")
    for path in files:
        ds = pydicom.dcmread(path)
        del ds.file_meta
        ds.preamble = None
        ds.save_as(path, enforce_file_format=False, implicit_vr=False, little_endian=True)
        assert path.read_bytes()[128:132] != b"DICM"
    assert load_series(tmp_path / "s").volume.shape == (9, 64, 64)
