"""Endplate defects: the disc label reaching focally into a body, on hand-built label maps and phantoms."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from pipeline.grading import GradingSettings, grade_analysis
from pipeline.grading.endplate import focal_depression
from pipeline.grading.evaluate import analysis_from_labels, ragged
from pipeline.phantom import generate
from tests.grading.synthetic import Spec, analysis, build

ORIENTATIONS = [
    {"slices_left_to_right": lr, "rows_anterior": ra, "columns_down": cd}
    for lr, ra, cd in itertools.product((True, False), (True, False), (True, False))
]


def _ids(orientation: dict[str, bool]) -> str:
    return "-".join(f"{k[:4]}{int(v)}" for k, v in orientation.items())


def _defects(spec: Spec, settings: GradingSettings | None = None, labels_hook=None, **kw: object):
    volume, labels = build(spec, **kw)  # type: ignore[arg-type]
    if labels_hook is not None:
        labels = labels_hook(labels)
    level = grade_analysis(volume, analysis(labels, spec), settings=settings).levels[0]
    grades = {side: level.grade(f"endplate_defect_{side}") for side in ("upper", "lower")}
    depths = {side: level.measurement(f"endplate_defect_depth_{side}") for side in ("upper", "lower")}
    return grades, depths


@pytest.mark.parametrize("orientation", ORIENTATIONS, ids=_ids)
def test_a_disc_filled_notch_is_an_endplate_defect_in_every_orientation(orientation: dict[str, bool]) -> None:
    grades, depths = _defects(Spec(notch_lower=4.0), **orientation)
    assert grades["lower"].value == "present"
    assert depths["lower"].value == pytest.approx(4.0, abs=0.6)
    assert grades["upper"].value == "absent" and depths["upper"].value < 0.5


@pytest.mark.parametrize("orientation", ORIENTATIONS[::3], ids=_ids)
def test_a_flat_endplate_has_no_defect_in_every_orientation(orientation: dict[str, bool]) -> None:
    grades, depths = _defects(Spec(), **orientation)
    for side in ("upper", "lower"):
        assert grades[side].value == "absent"
        assert depths[side].value < 0.5
        assert grades[side].derived_from == (f"endplate_defect_depth_{side}",)


def test_a_notch_in_the_upper_body_of_a_tilted_slipped_spine_is_found_on_its_own_endplate() -> None:
    grades, depths = _defects(Spec(notch_upper=3.0, slip=5.0, tilt_deg=15.0), rows_anterior=False)
    assert grades["upper"].value == "present" and depths["upper"].value == pytest.approx(3.0, abs=0.7)
    assert grades["lower"].value == "absent"


def test_a_ragged_outline_makes_no_defect() -> None:
    for seed in range(4):
        grades, depths = _defects(Spec(), labels_hook=lambda labels, seed=seed: ragged(labels, 0.3, seed))
        assert grades["upper"].value == "absent" and grades["lower"].value == "absent", (seed, depths)


def test_a_notch_shallower_than_the_threshold_or_wider_than_the_endplate_is_no_defect() -> None:
    grades, depths = _defects(Spec(notch_lower=1.0))
    assert grades["lower"].value == "absent" and depths["lower"].value < 1.5
    grades, _ = _defects(Spec(notch_lower=3.0, notch_width=34.0))  # an eroded endplate, not a focal defect
    assert grades["lower"].value == "absent"


def test_the_depth_threshold_comes_from_the_settings() -> None:
    grades, _ = _defects(Spec(notch_lower=2.5), settings=GradingSettings(endplate_defect_depth_mm=3.5))
    assert grades["lower"].value == "absent"
    grades, _ = _defects(Spec(notch_lower=2.5), settings=GradingSettings(endplate_defect_depth_mm=1.5))
    assert grades["lower"].value == "present"


def test_endplate_defects_switched_off_are_not_assessed() -> None:
    grades, depths = _defects(Spec(notch_lower=4.0), settings=GradingSettings(endplate_defects=False))
    for side in ("upper", "lower"):
        assert not grades[side].assessed and "endplate_defects" in grades[side].note
        assert depths[side] is None


def test_a_bump_that_runs_into_a_wall_is_a_rim_not_a_defect() -> None:
    x = np.arange(0.0, 30.0, 0.25)
    concave = 1.0 - ((x - 15.0) / 15.0) ** 2
    at_wall = concave + np.where(x > 26.0, 3.0, 0.0)
    assert focal_depression(x, at_wall).depth_mm == 0.0
    focal = concave + np.where(np.abs(x - 10.0) < 3.0, 3.0, 0.0)
    reading = focal_depression(x, focal)
    assert reading.depth_mm == pytest.approx(3.0, abs=0.1)
    assert reading.width_mm == pytest.approx(6.0, abs=0.5) and reading.position_mm == pytest.approx(10.0, abs=3.0)


def test_schmorl_nodes_of_a_phantom_are_found_where_the_truth_has_them() -> None:
    levels = ("T12/L1", "L1/L2", "L2/L3", "L3/L4", "L4/L5", "L5/S1")
    force = {level: {"endplate_defect_upper": False, "endplate_defect_lower": False} for level in levels}
    force["L2/L3"]["endplate_defect_lower"] = True
    force["L4/L5"]["endplate_defect_upper"] = True
    case = generate(12, transitional="none", force=force, supersample=1)
    graded = grade_analysis(case.volume, analysis_from_labels(case.volume, case.labels, case.truth["discs"]))
    found = {
        (level.level, side): level.grade(f"endplate_defect_{side}").value
        for level in graded.levels
        for side in ("upper", "lower")
        if level.level in levels
    }
    assert found[("L2/L3", "lower")] == "present" and found[("L4/L5", "upper")] == "present"
    others = [key for key, value in found.items() if value == "present"]
    assert sorted(others) == [("L2/L3", "lower"), ("L4/L5", "upper")]
