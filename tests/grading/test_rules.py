"""What is not assessed, and when: contrasts, regions, settings."""

from __future__ import annotations

import pytest

from pipeline import definitions
from pipeline.grading import GradingSettings, grade_analysis
from pipeline.grading.grade import MODIC_T2_ONLY_NOTE, PFIRRMANN_LUMBAR_NOTE
from tests.grading.synthetic import Spec, analysis, build


def _level(spec: Spec, contrast: str | None = "T2", t1: bool = False, settings: GradingSettings | None = None):
    volume, labels = build(spec, contrast=contrast)
    t1_volume = build(spec, contrast="T1")[0] if t1 else None
    return grade_analysis(volume, analysis(labels, spec), t1=t1_volume, settings=settings).levels[0]


def test_t2_alone_reports_marrow_change_and_leaves_modic_not_assessed() -> None:
    level = _level(Spec())
    for side in ("upper", "lower"):
        modic = level.grade(f"modic_{side}")
        assert modic is not None and not modic.assessed
        assert modic.note == MODIC_T2_ONLY_NOTE
        marrow = level.grade(f"marrow_change_{side}")
        assert marrow is not None and marrow.value in ("present", "absent")


def test_modic_is_typed_when_a_t1_of_the_same_frame_is_given() -> None:
    level = _level(Spec(), t1=True)
    for side in ("upper", "lower"):
        grade = level.grade(f"modic_{side}")
        assert grade is not None and grade.value == "0"  # uniform marrow: no change


@pytest.mark.parametrize("contrast", ["T1", "STIR", None])
def test_pfirrmann_is_not_assessed_off_t2(contrast: str | None) -> None:
    grade = _level(Spec(), contrast=contrast).grade("pfirrmann")
    assert grade is not None and not grade.assessed and "T2" in grade.note


def test_pfirrmann_on_a_cervical_disc_carries_the_lumbar_only_caveat() -> None:
    spec = Spec(upper="C5", lower="C6", depth=16.0, body_height=13.0, width=20.0, disc_height=5.0, canal_ap=12.0)
    grade = _level(spec).grade("pfirrmann")
    assert grade is not None
    if grade.assessed:
        assert grade.note == PFIRRMANN_LUMBAR_NOTE
        assert grade.probabilities and abs(sum(grade.probabilities.values()) - 1) < 1e-3
    else:  # only an uncalibrated build may leave it out, and must say why
        assert grade.note


def test_cervical_levels_use_cervical_stenosis_bands() -> None:
    spec = Spec(upper="C5", lower="C6", depth=16.0, body_height=13.0, width=20.0, disc_height=5.0, canal_ap=9.0)
    level = _level(spec)
    assert level.grade("canal_stenosis").value == "mild"  # 9 mm: cervical 10/8/6 bands, lumbar would say moderate


def test_settings_default_to_the_shared_definitions() -> None:
    settings = GradingSettings()
    assert settings.stenosis_lumbar_mm == definitions.STENOSIS_BANDS_MM["lumbar"]
    assert settings.listhesis_min_mm == definitions.LISTHESIS_MIN_MM
    for ap in (5.0, 7.5, 9.9, 10.0, 11.9, 12.0, 15.0):
        assert settings.stenosis(ap, "L4/L5") == definitions.stenosis_grade(ap, "L4/L5")
    for slip in (-6.0, 2.9, 3.0, 8.0, 9.0, 18.0, 30.0, 40.0):
        assert settings.meyerding(slip, 35.0) == definitions.meyerding_grade(slip, 35.0)
    for extent, migration in ((1.0, 0.0), (2.0, 0.0), (3.5, 1.0), (3.5, 5.0)):
        assert settings.herniation(extent, migration) == definitions.herniation_class(extent, migration)


def test_configured_thresholds_change_the_grade() -> None:
    strict = GradingSettings.from_mapping({"stenosis_lumbar_mm": [15.0, 12.0, 9.0]})
    level = _level(Spec(canal_ap=14.0), settings=strict)
    assert level.grade("canal_stenosis").value == "mild"


def test_settings_refuse_unknown_keys_and_bad_bands() -> None:
    with pytest.raises(ValueError, match="unknown"):
        GradingSettings.from_mapping({"stenosis_mm": [1, 2, 3]})
    with pytest.raises(ValueError, match="decreasing"):
        GradingSettings(stenosis_lumbar_mm=(7.0, 10.0, 12.0))
    with pytest.raises(ValueError, match="4 increasing"):
        GradingSettings.from_mapping({"meyerding_bands_percent": [25, 50, 75]})


def test_a_level_whose_disc_is_missing_is_not_assessed_with_a_reason() -> None:
    spec = Spec()
    volume, labels = build(spec)
    labels[labels == 123] = 0
    level = grade_analysis(volume, analysis(labels, spec)).levels[0]
    assert all(not g.assessed and g.note for g in level.grades)


def test_grading_twice_replaces_rather_than_duplicates() -> None:
    spec = Spec(slip=4.0)
    volume, labels = build(spec)
    result = analysis(labels, spec)
    grade_analysis(volume, result)
    counts = (len(result.levels[0].measurements), len(result.levels[0].grades), len(result.vertebrae[0].measurements))
    grade_analysis(volume, result)
    assert (
        len(result.levels[0].measurements),
        len(result.levels[0].grades),
        len(result.vertebrae[0].measurements),
    ) == counts
    assert len({g.name for g in result.levels[0].grades}) == len(result.levels[0].grades)


def test_a_vertebra_cut_by_the_image_edge_leaves_its_geometry_and_marrow_not_assessed() -> None:
    spec = Spec(shift_s=36.0)  # the upper body runs past the top of the 112 mm field of view
    level = _level(spec)
    for name in ("meyerding", "narrowing", "herniation", "marrow_change_upper", "modic_upper"):
        grade = level.grade(name)
        assert grade is not None and not grade.assessed and "cut by the edge" in grade.note, name
    assert level.grade("canal_stenosis").assessed
    assert level.measurement("canal_ap_diameter").value == pytest.approx(14.0, abs=0.5)
