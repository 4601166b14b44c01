"""Codes: SNOMED from CID 7603/7604 where they exist, a declared private scheme elsewhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from dicomnode.results import codes, sr
from pipeline import labels

DOC = Path(__file__).resolve().parents[2] / "docs" / "codes.md"


@pytest.mark.parametrize(
    ("label", "name", "value"),
    [
        (labels.VERTEBRA_LABELS["L4"], "L4", "11994002"),
        (labels.VERTEBRA_LABELS["C2"], "C2", "39976000"),
        (labels.VERTEBRA_LABELS["T12"], "T12", "23215003"),
        (labels.disc_label("L4"), "L4/L5", "84020006"),
        (labels.disc_label("L5"), "L5/S1", "715056000"),
        (labels.disc_label("C6"), "C6/C7", "75095006"),
        (labels.SACRUM, "S1", "54735007"),
        (labels.CANAL, "spinal canal", "61853006"),
        (labels.CORD, "spinal cord", "2748008"),
    ],
)
def test_standard_structure_codes(label: int, name: str, value: str) -> None:
    code = codes.structure_code(label, name)
    assert (code.value, code.scheme_designator) == (value, "SCT")


def test_category_is_anatomical_structure() -> None:
    assert codes.ANATOMICAL_STRUCTURE.value == "91723000"


@pytest.mark.parametrize(
    ("label", "name", "value"),
    [
        (labels.VERTEBRA_LABELS["L6"], "L6", "V-L6"),
        (labels.VERTEBRA_LABELS["T13"], "T13", "V-T13"),
        (labels.disc_label("L6"), "L6/S1", "D-L6/S1"),
        (labels.disc_label("L5"), "L5/L6", "D-L5/L6"),  # transitional: the name decides, not the label
    ],
)
def test_transitional_levels_get_private_codes_not_a_neighbours(label: int, name: str, value: str) -> None:
    code = codes.structure_code(label, name)
    assert (code.value, code.scheme_designator) == (value, codes.PRIVATE_SCHEME)


def test_private_scheme_is_a_99_designator_and_declarable() -> None:
    assert codes.PRIVATE_SCHEME.startswith("99")
    item = codes.coding_scheme_identification()
    assert item.CodingSchemeDesignator == codes.PRIVATE_SCHEME
    assert item.CodingSchemeName


def test_not_assessed_is_never_a_grade_value() -> None:
    for name in codes.GRADE_CONCEPTS:
        assert codes.grade_value(name, None) == codes.NOT_ASSESSED
        assert codes.NOT_ASSESSED not in codes.GRADE_VALUES[name].values()


def test_standard_value_codes_for_severity_and_presence() -> None:
    assert codes.grade_value("canal_stenosis", "moderate").value == "6736007"
    assert codes.grade_value("narrowing", "none").value == "260413007"
    assert codes.grade_value("endplate_defect_upper", "present").value == "52101004"
    assert codes.grade_value("marrow_change_lower", "absent").value == "272519000"
    assert codes.grade_value("pfirrmann", "3").value == "PFIRRMANN3"
    assert codes.grade_value("meyerding", "II").meaning == "Meyerding grade II"
    assert codes.grade_value("modic_lower", "I").meaning == "Modic type I"


def test_unknown_grades_and_measurements_get_stable_private_codes() -> None:
    a = codes.grade_concept("foraminal_stenosis")
    assert a == codes.grade_concept("foraminal_stenosis")
    assert a.scheme_designator == codes.PRIVATE_SCHEME and len(a.value) <= 16
    assert a.meaning == "Foraminal stenosis"
    v = codes.grade_value("foraminal_stenosis", "grade 2")
    assert v.scheme_designator == codes.PRIVATE_SCHEME and len(v.value) <= 16
    assert codes.grade_value("pfirrmann", "7").meaning == "7"  # unknown value of a known grade
    m = codes.measurement_concept("facet_angle")
    assert m.value.startswith("XM") and len(m.value) <= 16


def test_colours_are_distinct_for_neighbours_and_valid_cielab() -> None:
    for upper, lower in zip(labels.SPINE_ORDER, labels.SPINE_ORDER[1:], strict=False):
        a, b = labels.VERTEBRA_LABELS[upper], labels.VERTEBRA_LABELS[lower]
        assert codes.structure_rgb(a) != codes.structure_rgb(b)
    lab = codes.structure_cielab(labels.CANAL)
    assert len(lab.value) == 3


def test_every_private_code_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    emitted = [
        *codes.GRADE_CONCEPTS.values(),
        *codes.MEASUREMENT_CONCEPTS.values(),
        *(v for table in codes.GRADE_VALUES.values() for v in table.values()),
        codes.NOT_ASSESSED,
        sr.INTENDED_USE,
        sr.RESEARCH_DECISION_SUPPORT,
        sr.QC_WARNING,
        sr.NAMING_CERTAIN,
        sr.UNSEGMENTED_FINDING,
        sr.T1_COMPANION,
    ]
    missing = sorted({c.value for c in emitted if c.value not in text})
    assert not missing, f"docs/codes.md lacks {missing}"
    assert codes.PRIVATE_SCHEME in text
