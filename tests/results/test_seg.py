"""The SEG read back: codes, labels, exclusivity, identity and geometry in every IOP convention."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset

from dicomnode.results import codes
from dicomnode.results.build import ResultSettings, build_outputs
from dicomnode.series_loader import LoadedSeries, load_series
from pipeline import labels
from pipeline.result import SpineAnalysis
from tests.results.conftest import CREATED, JOB_KEY, TEST_UID_ROOT
from tests.results.factory import CONVENTIONS, Convention, make_analysis, write_series

SEG_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"


def _seg(outputs: list[Dataset]) -> Dataset:
    return next(ds for ds in outputs if ds.SOPClassUID == SEG_CLASS)


def _read_back(ds: Dataset, tmp_path: Path) -> hd.seg.Segmentation:
    path = tmp_path / "seg.dcm"
    ds.save_as(path, enforce_file_format=True)
    return hd.seg.segread(path)


def assert_centroids_match(seg: hd.seg.Segmentation, loaded: LoadedSeries, analysis: SpineAnalysis) -> None:
    """Every segment's centre of mass, computed in LPS from the SEG alone, is within one voxel."""
    volume = seg.get_volume(combine_segments=False)
    array = volume.array
    for number in seg.segment_numbers:
        description = seg.get_segment_description(number)
        structure = analysis.structure(description.segment_label)
        assert structure is not None, description.segment_label
        index = np.argwhere(array[..., number - 1] > 0).mean(axis=0)
        lps = volume.affine[:3, :3] @ index + volume.affine[:3, 3]
        offset = loaded.volume.lps_to_index(lps) - np.asarray(structure.centroid_index)
        assert np.all(np.abs(offset) <= 1.0), (structure.name, offset)
        assert np.allclose(lps, structure.centroid_lps, atol=max(loaded.volume.spacing))


def test_segment_geometry_matches_the_pipeline_in_every_convention(
    outputs: list[Dataset], loaded: LoadedSeries, analysis: SpineAnalysis, tmp_path: Path
) -> None:
    assert_centroids_match(_read_back(_seg(outputs), tmp_path), loaded, analysis)


@pytest.mark.parametrize("convention", CONVENTIONS, ids=[c.name for c in CONVENTIONS])
def test_segment_geometry_with_an_enhanced_mr_source(convention: Convention, tmp_path: Path) -> None:
    loaded = load_series(write_series(tmp_path / "src", convention, enhanced=True))
    analysis = make_analysis(loaded.volume)
    outputs = build_outputs(loaded, analysis, JOB_KEY, ResultSettings(uid_root=TEST_UID_ROOT, picture=False))
    seg = _read_back(_seg(outputs), tmp_path)
    assert_centroids_match(seg, loaded, analysis)
    # Each SEG frame refers to the source frame it was derived from.
    for frame in seg.PerFrameFunctionalGroupsSequence:
        ref = frame.DerivationImageSequence[0].SourceImageSequence[0]
        assert ref.ReferencedSOPInstanceUID == loaded.datasets[0].SOPInstanceUID
        assert 1 <= int(ref.ReferencedFrameNumber) <= loaded.volume.shape[0]


def test_segments_are_coded_labelled_coloured_and_tracked(outputs: list[Dataset], tmp_path: Path) -> None:
    seg = _read_back(_seg(outputs), tmp_path)
    assert seg.SegmentationType == "BINARY"
    assert seg.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    found = {}
    for number in seg.segment_numbers:
        d = seg.get_segment_description(number)
        found[d.segment_label] = d
        assert d.segmented_property_category.value == "91723000"
        assert d.algorithm_type == hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC
        assert d.algorithm_identification[0].AlgorithmName == "dicomnode-spine"
        assert d.algorithm_identification[0].AlgorithmVersion == "0.1.0-test"
        assert d.tracking_uid and d.tracking_id
        assert "RecommendedDisplayCIELabValue" in d
    assert list(found) == ["L3", "L4", "L5", "S1", "L3/L4", "L4/L5", "L5/S1", "spinal canal"]
    assert found["L4"].segmented_property_type.value == "11994002"
    assert found["L4/L5"].segmented_property_type.value == "84020006"
    assert found["L5/S1"].segmented_property_type.value == "715056000"
    assert found["S1"].segmented_property_type.value == "54735007"
    assert found["spinal canal"].segmented_property_type.value == "61853006"
    assert len({d.tracking_uid for d in found.values()}) == len(found)


def test_masks_are_mutually_exclusive_and_equal_the_label_map(
    outputs: list[Dataset], loaded: LoadedSeries, analysis: SpineAnalysis, tmp_path: Path
) -> None:
    seg = _read_back(_seg(outputs), tmp_path)
    source_uids = [ds.SOPInstanceUID for ds in loaded.datasets]
    pixels = seg.get_pixels_by_source_instance(
        source_uids, ignore_spatial_locations=True, assert_missing_frames_are_empty=True
    )
    assert pixels.sum(axis=-1).max() == 1
    for number in seg.segment_numbers:
        name = seg.get_segment_description(number).segment_label
        label = analysis.structure(name).label
        assert np.array_equal(pixels[..., number - 1] > 0, analysis.label_map == label)


def test_same_patient_and_study_with_non_ascii_name(
    outputs: list[Dataset], loaded: LoadedSeries, tmp_path: Path
) -> None:
    seg = pydicom.dcmread(_written_seg(outputs, tmp_path))
    src = loaded.reference
    assert seg.SpecificCharacterSet == "ISO_IR 192"
    assert str(seg.PatientName) == "Müller^Jürgen"
    for keyword in (
        "PatientID",
        "PatientBirthDate",
        "PatientSex",
        "StudyInstanceUID",
        "StudyID",
        "AccessionNumber",
        "FrameOfReferenceUID",
    ):
        assert seg.get(keyword) == src.get(keyword), keyword
    assert seg.SeriesInstanceUID != src.SeriesInstanceUID
    assert seg.SeriesNumber == 9901
    assert "research" in seg.SeriesDescription.lower()
    assert "not for primary diagnosis" in seg.ContentDescription.lower()


def _written_seg(outputs: list[Dataset], tmp_path: Path) -> Path:
    path = tmp_path / "seg-raw.dcm"
    _seg(outputs).save_as(path, enforce_file_format=True)
    return path


def test_rebuilding_a_job_gives_identical_instances(
    loaded: LoadedSeries, analysis: SpineAnalysis, convention: Convention
) -> None:
    if convention is not CONVENTIONS[0]:
        pytest.skip("determinism does not depend on the IOP convention; run once to keep the suite fast")
    settings = ResultSettings(uid_root=TEST_UID_ROOT, picture=False)
    first = build_outputs(loaded, analysis, JOB_KEY, settings, created=CREATED)
    second = build_outputs(loaded, analysis, JOB_KEY, settings, created=CREATED)
    other = build_outputs(loaded, analysis, JOB_KEY + "-other", settings, created=CREATED)
    for a, b, c in zip(first, second, other, strict=True):
        assert a.SOPInstanceUID == b.SOPInstanceUID != c.SOPInstanceUID
        assert a.SeriesInstanceUID == b.SeriesInstanceUID
        assert a.SOPInstanceUID.startswith(TEST_UID_ROOT + ".")
    assert first[0].PixelData == second[0].PixelData


def test_empty_frames_kept_on_request(loaded: LoadedSeries, analysis: SpineAnalysis) -> None:
    keep = build_outputs(
        loaded,
        analysis,
        JOB_KEY,
        ResultSettings(uid_root=TEST_UID_ROOT, keep_empty_frames=True, picture=False, sr=False),
    )
    omit = build_outputs(
        loaded,
        analysis,
        JOB_KEY,
        ResultSettings(uid_root=TEST_UID_ROOT, keep_empty_frames=False, picture=False, sr=False),
    )
    n_segments = len(keep[0].SegmentSequence)
    assert keep[0].NumberOfFrames == n_segments * loaded.volume.shape[0]
    assert omit[0].NumberOfFrames < keep[0].NumberOfFrames


def _analysis_with(loaded: LoadedSeries, relabel: dict[int, int], names: dict[int, str]) -> SpineAnalysis:
    """The phantom relabelled as another region (cervical, thoracic, transitional)."""
    base = make_analysis(loaded.volume)
    lut = np.arange(256, dtype=np.uint8)
    for old, new in relabel.items():
        lut[old] = new
    label_map = lut[base.label_map]
    analysis = make_analysis(loaded.volume, label_map)
    structures = [replace(s, name=names.get(s.label, s.name)) for s in analysis.structures]
    return replace(analysis, structures=structures, levels=[], vertebrae=[])


@pytest.mark.parametrize(
    ("relabel", "names", "expected"),
    [
        # cervical: L3, L4, L5, sacrum -> C4, C5, C6, C7 and their discs
        (
            {22: 4, 23: 5, 24: 6, 26: 7, 122: 104, 123: 105, 124: 106},
            {},
            {"C5": "36978003", "C5/C6": "73959003", "C6/C7": "75095006"},
        ),
        # transitional lumbosacral: L4, L5, L6, sacrum with discs L5/L6 and L6/S1
        (
            {22: 23, 23: 24, 24: 25, 122: 123, 123: 124, 124: 125},
            {124: "L5/L6"},
            {"L6": "V-L6", "L5/L6": "D-L5/L6", "L6/S1": "D-L6/S1", "L4/L5": "84020006"},
        ),
        # thoracolumbar with a cord segment instead of the canal
        (
            {22: 19, 23: 20, 24: 21, 26: 22, 122: 119, 123: 120, 124: 121, 201: 202},
            {},
            {"T12/L1": "76206002", "spinal cord": "2748008"},
        ),
    ],
    ids=["cervical", "L6", "thoracolumbar-cord"],
)
def test_any_set_of_levels_is_coded(
    loaded: LoadedSeries, relabel: dict, names: dict, expected: dict, tmp_path: Path
) -> None:
    analysis = _analysis_with(loaded, relabel, names)
    outputs = build_outputs(loaded, analysis, JOB_KEY, ResultSettings(uid_root=TEST_UID_ROOT, picture=False))
    seg = _read_back(_seg(outputs), tmp_path)
    by_label = {
        seg.get_segment_description(n).segment_label: seg.get_segment_description(n) for n in seg.segment_numbers
    }
    for name, value in expected.items():
        assert by_label[name].segmented_property_type.value == value, name
    private = [d for d in by_label.values() if d.segmented_property_type.scheme_designator == codes.PRIVATE_SCHEME]
    if private:
        declared = [i.CodingSchemeDesignator for i in seg.CodingSchemeIdentificationSequence]
        assert codes.PRIVATE_SCHEME in declared
    assert_centroids_match(seg, loaded, analysis)


def test_label_map_on_another_grid_is_refused(loaded: LoadedSeries, analysis: SpineAnalysis) -> None:
    wrong = replace(analysis, label_map=analysis.label_map[:-1])
    with pytest.raises(ValueError, match="source grid"):
        build_outputs(loaded, wrong, JOB_KEY, ResultSettings(uid_root=TEST_UID_ROOT))


def test_structure_without_voxels_gets_no_segment(loaded: LoadedSeries) -> None:
    analysis = make_analysis(loaded.volume)
    label_map = analysis.label_map.copy()
    label_map[label_map == labels.CANAL] = 0
    outputs = build_outputs(
        loaded,
        replace(analysis, label_map=label_map),
        JOB_KEY,
        ResultSettings(uid_root=TEST_UID_ROOT, picture=False, sr=False),
    )
    assert "spinal canal" not in [s.SegmentLabel for s in outputs[0].SegmentSequence]


def test_label_values_outside_the_contract_are_left_out(loaded: LoadedSeries) -> None:
    """E.g. a phantom's posterior-elements label 203: no code we could stand behind, so no segment."""
    analysis = make_analysis(loaded.volume)
    label_map = analysis.label_map.copy()
    label_map[0, :4, :4] = 203
    outputs = build_outputs(
        loaded,
        replace(analysis, label_map=label_map),
        JOB_KEY,
        ResultSettings(uid_root=TEST_UID_ROOT, picture=False, sr=False),
    )
    assert len(outputs[0].SegmentSequence) == len(analysis.structures)


@pytest.mark.parametrize("enhanced", [False, True], ids=["classic", "enhanced"])
def test_anisotropic_pixel_spacing_keeps_geometry(tmp_path: Path, enhanced: bool) -> None:
    """PixelSpacing is (row spacing, column spacing); swapping them would move every segment."""
    loaded = load_series(write_series(tmp_path / "src", CONVENTIONS[2], pixel_spacing=(1.6, 2.4), enhanced=enhanced))
    assert loaded.volume.spacing[1:] == pytest.approx((1.6, 2.4))
    truth = make_analysis(loaded.volume)
    bright = loaded.volume.array > 700
    assert (truth.label_map[bright] >= 100).mean() > 0.97  # discs and canal where the phantom has them
    outputs = build_outputs(loaded, truth, JOB_KEY, ResultSettings(uid_root=TEST_UID_ROOT, picture=False, sr=False))
    assert_centroids_match(_read_back(_seg(outputs), tmp_path), loaded, truth)
