"""Each measurement on hand-built label maps with known geometry, in every orientation convention."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from pipeline.grading import grade_analysis
from pipeline.grading.midline import midline_value
from pipeline.grading.plane import min_area_rectangle, run_through
from tests.grading.synthetic import Spec, analysis, build

ORIENTATIONS = [
    {"slices_left_to_right": lr, "rows_anterior": ra, "columns_down": cd}
    for lr, ra, cd in itertools.product((True, False), (True, False), (True, False))
]


def _graded(spec: Spec, **kw: object) -> tuple[dict[str, float], dict[str, str | None]]:
    volume, labels = build(spec, **kw)  # type: ignore[arg-type]
    result = grade_analysis(volume, analysis(labels, spec))
    level = result.levels[0]
    return {m.name: m.value for m in level.measurements}, {g.name: g.value for g in level.grades}


@pytest.mark.parametrize("orientation", ORIENTATIONS, ids=lambda o: "-".join(f"{k[:4]}{int(v)}" for k, v in o.items()))
def test_five_mm_slip_reads_five_mm_in_every_orientation(orientation: dict[str, bool]) -> None:
    values, grades = _graded(Spec(slip=5.0), **orientation)
    assert values["slip"] == pytest.approx(5.0, abs=0.5)
    assert values["slip_percent"] == pytest.approx(100 * 5.0 / 35.0, abs=1.5)
    assert grades["meyerding"] == "I"
    assert grades["listhesis_direction"] == "anterolisthesis"


@pytest.mark.parametrize("tilt", [0.0, 20.0, -15.0])
def test_slip_is_measured_along_the_endplate_of_a_tilted_spine(tilt: float) -> None:
    values, grades = _graded(Spec(slip=-5.0, tilt_deg=tilt), rows_anterior=False)
    assert values["slip"] == pytest.approx(-5.0, abs=0.5)
    assert grades["listhesis_direction"] == "retrolisthesis"


def test_high_grade_slip_gets_meyerding_three() -> None:
    values, grades = _graded(Spec(slip=20.0, tilt_deg=10.0))
    assert values["slip"] == pytest.approx(20.0, abs=0.6)
    assert grades["meyerding"] == "III"  # 20 / 35 = 57 %


def test_no_slip_is_meyerding_zero() -> None:
    values, grades = _graded(Spec())
    assert abs(values["slip"]) < 0.5
    assert grades["meyerding"] == "0" and grades["listhesis_direction"] == "none"


@pytest.mark.parametrize("orientation", ORIENTATIONS[::3])
def test_disc_heights_and_index(orientation: dict[str, bool]) -> None:
    values, grades = _graded(Spec(disc_height=8.0, tilt_deg=12.0), **orientation)
    # a point-sampled label map places each edge within half a pixel (0.35 mm here): one pixel in all
    for key in ("anterior", "middle", "posterior"):
        assert values[f"disc_height_{key}"] == pytest.approx(8.0, abs=0.7)
    assert values["disc_height_index"] == pytest.approx(8.0 / 26.0, abs=0.03)
    assert grades["narrowing"] == "mild"  # 0.308 vs normal 0.40 at L4/L5: 23 % loss


def test_canal_ap_diameter_and_stenosis_bands() -> None:
    for ap, expected in ((14.0, "none"), (11.0, "mild"), (8.5, "moderate"), (5.0, "severe")):
        values, grades = _graded(Spec(canal_ap=ap, tilt_deg=8.0), slices_left_to_right=False)
        assert values["canal_ap_diameter"] == pytest.approx(ap, abs=0.5)
        assert grades["canal_stenosis"] == expected


def test_canal_is_read_at_the_midline_between_slices() -> None:
    """Slices 2 mm either side of the midline see a narrower sac; the midline value is recovered."""
    volume, labels = build(Spec(canal_ap=14.0), shape=(12, 160, 160))
    result = grade_analysis(volume, analysis(labels, Spec(canal_ap=14.0)))
    assert result.levels[0].measurement("canal_ap_diameter").value == pytest.approx(14.0, abs=0.5)


@pytest.mark.parametrize(
    ("depth", "expected"), [(0.0, "none"), (2.2, "bulge"), (4.0, "protrusion"), (6.0, "protrusion")]
)
def test_herniation_extent_beyond_the_posterior_wall_line(depth: float, expected: str) -> None:
    values, grades = _graded(Spec(herniation=depth, canal_ap=16.0, tilt_deg=-10.0), columns_down=False)
    assert values["herniation_extent"] == pytest.approx(depth, abs=0.5)
    assert grades["herniation"] == expected


def test_vertebral_body_heights() -> None:
    volume, labels = build(Spec(body_height=24.0, tilt_deg=15.0))
    result = grade_analysis(volume, analysis(labels, Spec(body_height=24.0)))
    heights = {m.name: m.value for m in result.vertebrae[0].measurements}
    for key in ("anterior", "middle", "posterior"):
        assert heights[f"vertebral_height_{key}"] == pytest.approx(24.0, abs=0.5)


def test_every_grade_names_its_measurements() -> None:
    values, _ = _graded(Spec(slip=4.0, herniation=3.5))
    volume, labels = build(Spec(slip=4.0, herniation=3.5))
    level = grade_analysis(volume, analysis(labels, Spec(slip=4.0, herniation=3.5))).levels[0]
    for grade in level.grades:
        if grade.assessed:
            assert grade.derived_from, grade.name
            assert all(name in values for name in grade.derived_from), grade


def test_run_through_is_unbiased_on_a_point_sampled_mask() -> None:
    mask = np.zeros((60, 60), dtype=bool)
    mask[20:31, 10:50] = True  # 11 pixels of 0.5 mm: 5.5 mm
    length, _, _ = run_through(mask, np.array([12.5, 15.0]), np.array([1.0, 0.0]), (0.5, 0.5))
    assert length == pytest.approx(5.5, abs=0.05)


def test_min_area_rectangle_finds_a_rotated_rectangle() -> None:
    t = np.radians(30)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    corners = np.array([[-10, -5], [10, -5], [10, 5], [-10, 5]], dtype=float) @ rot.T
    _, a, _, half_a, half_b = min_area_rectangle(corners)
    assert sorted([half_a, half_b]) == pytest.approx([5.0, 10.0])
    assert abs(abs(a @ rot[:, 0]) - 1) < 1e-6 or abs(abs(a @ rot[:, 1]) - 1) < 1e-6


def test_midline_value_recovers_an_elliptic_peak() -> None:
    semi, ap = 10.0, 14.0
    xs = np.array([-3.1, 0.9, 4.9])
    values = ap * np.sqrt(1 - (xs / semi) ** 2)
    assert midline_value(xs, values, 0.0, squared=True) == pytest.approx(ap, abs=0.01)
