"""The picture: head up, anterior left, outlines and names on the right structures, banner burned in."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset

from dicomnode.results import codes
from dicomnode.results.picture import SliceView, choose_slices
from dicomnode.series_loader import LoadedSeries
from pipeline import labels
from pipeline.result import SpineAnalysis

SC_CLASS = "1.2.840.10008.5.1.4.1.1.7"
GSPS_CLASS = "1.2.840.10008.5.1.4.1.1.11.1"


def _pictures(outputs: list[Dataset]) -> list[Dataset]:
    return [ds for ds in outputs if ds.SOPClassUID == SC_CLASS]


def test_view_puts_head_up_and_anterior_left_in_every_convention(loaded: LoadedSeries) -> None:
    vol = loaded.volume
    view = SliceView.for_volume(vol.direction, vol.shape, vol.spacing)
    centre = np.array([0.0, 0.0, 0.0])

    def display(point_lps: np.ndarray) -> tuple[float, float]:
        _, j, i = vol.lps_to_index(point_lps)
        return view.point(j, i)

    y0, x0 = display(centre)
    y_head, _ = display(centre + np.array([0.0, 0.0, 20.0]))
    _, x_front = display(centre + np.array([0.0, -20.0, 0.0]))
    assert y_head < y0, "superior must be up"
    assert x_front < x0, "anterior must be left"
    j, i = view.source_point(*view.point(3.0, 7.0))
    assert (j, i) == pytest.approx((3.0, 7.0))


def _mean_position(rgb: np.ndarray, colour: tuple[int, int, int]) -> tuple[float, float]:
    ys, xs = np.nonzero(np.all(rgb == np.asarray(colour, dtype=np.uint8), axis=-1))
    assert ys.size, f"colour {colour} not drawn"
    return float(ys.mean()), float(xs.mean())


def test_outlines_follow_the_anatomy_on_the_rendered_picture(outputs: list[Dataset]) -> None:
    rgb = _pictures(outputs)[0].pixel_array
    rows = [_mean_position(rgb, codes.structure_rgb(labels.VERTEBRA_LABELS[n]))[0] for n in ("L3", "L4", "L5")]
    rows.append(_mean_position(rgb, codes.structure_rgb(labels.SACRUM))[0])
    assert rows == sorted(rows), "vertebrae must run head (top) to foot (bottom)"
    _, canal_x = _mean_position(rgb, codes.structure_rgb(labels.CANAL))
    _, l4_x = _mean_position(rgb, codes.structure_rgb(labels.VERTEBRA_LABELS["L4"]))
    assert l4_x < canal_x, "bodies (anterior) must be left of the canal"


def test_banner_is_burned_in_and_size_is_readable(outputs: list[Dataset]) -> None:
    for picture in _pictures(outputs):
        rgb = picture.pixel_array
        assert picture.Rows == 512 and picture.Columns >= 512
        assert np.all(rgb[2, 2] == (150, 0, 0)), "the red disclaimer banner must be at the top"
        assert (rgb[:20] == 255).all(axis=-1).any(), "banner text"


def test_picture_series_keeps_identity_and_says_not_for_diagnosis(outputs: list[Dataset], loaded: LoadedSeries) -> None:
    pictures = _pictures(outputs)
    assert len(pictures) == 3
    assert len({p.SeriesInstanceUID for p in pictures}) == 1
    assert [p.InstanceNumber for p in pictures] == [1, 2, 3]
    for p in pictures:
        assert p.PhotometricInterpretation == "RGB" and p.BitsAllocated == 8
        assert p.SpecificCharacterSet == "ISO_IR 192"
        assert str(p.PatientName) == "Müller^Jürgen"
        assert p.StudyInstanceUID == loaded.reference.StudyInstanceUID
        assert p.BurnedInAnnotation == "NO"
        assert "not for primary diagnosis" in p.SeriesDescription.lower()
        ref = p.SourceImageSequence[0].ReferencedSOPInstanceUID
        assert ref in {d.SOPInstanceUID for d in loaded.datasets}


def test_mid_sagittal_slice_is_the_one_through_the_canal(analysis: SpineAnalysis) -> None:
    label_map = analysis.label_map
    slices = choose_slices(label_map, 3)
    canal_counts = (label_map == labels.CANAL).reshape(label_map.shape[0], -1).sum(axis=1)
    assert canal_counts[slices[0]] == canal_counts.max()
    assert len(set(slices)) == 3
    assert choose_slices(label_map[:1], 3) == [0]
    assert choose_slices(np.zeros((5, 4, 4), np.uint8), 1) == [2]


def test_gsps_names_sit_on_their_structures(
    outputs: list[Dataset], loaded: LoadedSeries, analysis: SpineAnalysis
) -> None:
    gsps = next(ds for ds in outputs if ds.SOPClassUID == GSPS_CLASS)
    k_by_uid = {d.SOPInstanceUID: k for k, d in enumerate(loaded.datasets)}
    seen = set()
    for annotation in gsps.GraphicAnnotationSequence:
        k = k_by_uid[annotation.ReferencedImageSequence[0].ReferencedSOPInstanceUID]
        for text in annotation.TextObjectSequence:
            col, row = (float(v) - 1.0 for v in text.AnchorPoint)
            structure = analysis.structure(text.UnformattedTextValue)
            assert analysis.label_map[k, round(row), round(col)] == structure.label, text.UnformattedTextValue
            seen.add(structure.name)
    assert seen == {"L3", "L4", "L5", "S1", "L3/L4", "L4/L5", "L5/S1"}
    assert str(gsps.PatientName) == "Müller^Jürgen"


def test_picture_written_and_read_back(written: dict) -> None:
    ds = pydicom.dcmread(written["picture"][0])
    assert ds.pixel_array.shape[-1] == 3


def test_crowded_labels_spread_apart_but_stay_near_and_inside() -> None:
    from dicomnode.results.picture import spread_labels

    targets = [100.0, 101.0, 102.0, 300.0]
    ys = spread_labels(targets, 15.0, 10.0, 500.0)
    assert all(b - a >= 15.0 - 1e-9 for a, b in zip(sorted(ys), sorted(ys)[1:], strict=False))
    assert ys[3] == 300.0  # an uncrowded label stays on its structure
    assert abs(sum(ys[:3]) / 3 - 101.0) < 1e-9  # a crowded group stays centred on its structures
    edge = spread_labels([5.0, 6.0, 495.0, 496.0], 15.0, 10.0, 500.0)
    assert min(edge) >= 10.0 and max(edge) <= 500.0


def test_grade_table_shows_endplate_defects_upper_and_lower_as_the_sr_does() -> None:
    from dicomnode.results.picture import TABLE_COLUMNS, _grade_cell
    from pipeline.result import Grade, LevelFindings

    level = LevelFindings(
        "L4/L5",
        labels.disc_label("L4"),
        "L4",
        "L5",
        grades=[Grade("endplate_defect_upper", "present"), Grade("endplate_defect_lower", "absent")],
    )
    assert ("Endpl", "endplate_defect") in TABLE_COLUMNS
    assert _grade_cell(level, "endplate_defect") == "yes/no"
    off = LevelFindings("L4/L5", labels.disc_label("L4"), "L4", "L5", grades=[
        Grade("endplate_defect_upper", None), Grade("endplate_defect_lower", None)])  # fmt: skip
    assert _grade_cell(off, "endplate_defect") == "n/a"
