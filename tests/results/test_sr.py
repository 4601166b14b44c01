"""The SR read back with highdicom: its content is the SpineAnalysis, linked to the SEG segments."""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
import pydicom
import pytest

from dicomnode.results import codes
from dicomnode.results.build import ResultSettings, build_outputs
from dicomnode.series_loader import LoadedSeries
from pipeline.result import SpineAnalysis
from tests.results.conftest import JOB_KEY, TEST_UID_ROOT

SR_CLASS = "1.2.840.10008.5.1.4.1.1.88.34"
SEG_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"


@pytest.fixture(scope="module")
def report(written: dict) -> hd.sr.Comprehensive3DSR:
    return hd.sr.srread(written["sr"])


@pytest.fixture(scope="module")
def seg(written: dict) -> hd.seg.Segmentation:
    return hd.seg.segread(written["seg"])


def _groups(report: hd.sr.Comprehensive3DSR):
    return {g.tracking_identifier: g for g in report.content.get_volumetric_roi_measurement_groups()}


def test_one_group_per_disc_level_and_per_vertebra_with_findings(report, analysis: SpineAnalysis) -> None:
    groups = _groups(report)
    expected = [f"{lv.level} disc" for lv in analysis.levels] + [f"{v.name} vertebra" for v in analysis.vertebrae]
    assert sorted(groups) == sorted(expected)


def test_groups_share_tracking_uid_and_reference_their_segment(report, seg) -> None:
    segments = {seg.get_segment_description(n).tracking_uid: n for n in seg.segment_numbers}
    for name, group in _groups(report).items():
        number = segments[group.tracking_uid]
        description = seg.get_segment_description(number)
        assert description.tracking_id == name
        ref = group.referenced_segment
        assert ref.referenced_sop_instance_uid == seg.SOPInstanceUID
        assert list(ref.referenced_segment_numbers) == [number]
        assert group.finding_type.value == description.segmented_property_type.value
        assert group.finding_sites[0].value.value == description.segmented_property_type.value


def test_grades_and_measurements_equal_the_analysis(report, analysis: SpineAnalysis) -> None:
    groups = _groups(report)
    for level in analysis.levels:
        group = groups[f"{level.level} disc"]
        evaluations = {e.name.value: e.value for e in group.get_qualitative_evaluations()}
        assert len(evaluations) == len(level.grades)
        for grade in level.grades:
            value = evaluations[codes.grade_concept(grade.name).value]
            assert value.value == codes.grade_value(grade.name, grade.value).value, grade
            if grade.value is None:
                assert value.value == codes.NOT_ASSESSED.value  # never guessed
        measurements = {m.name.value: m for m in group.get_measurements()}
        assert len(measurements) == len(level.measurements)
        for m in level.measurements:
            item = measurements[codes.measurement_concept(m.name).value]
            assert item.value == pytest.approx(m.value)
            assert item.unit.value == m.unit
            assert item.unit.scheme_designator == "UCUM"
    vertebra = groups["L4 vertebra"]
    assert {m.name.meaning for m in vertebra.get_measurements()} == {
        "Anterior vertebral body height",
        "Posterior vertebral body height",
    }


def test_specific_values_in_the_report(report) -> None:
    l4l5 = _groups(report)["L4/L5 disc"]
    evaluations = {e.name.meaning: e.value for e in l4l5.get_qualitative_evaluations()}
    assert evaluations["Pfirrmann disc degeneration grade"].meaning == "Pfirrmann grade 4"
    assert evaluations["Central canal stenosis"].value == "6736007"  # SCT moderate, CID 3832
    assert evaluations["Modic change, cranial endplate"].meaning == "Modic type II"
    assert evaluations["Spondylolisthesis direction"].value == "255549009"
    l3l4 = _groups(report)["L3/L4 disc"]
    evaluations = {e.name.meaning: e.value for e in l3l4.get_qualitative_evaluations()}
    assert evaluations["Modic change, cranial endplate"].meaning == "Not assessed"
    assert evaluations["Endplate defect, caudal endplate"].value == "52101004"


def test_observer_procedure_library_and_private_scheme(written: dict, loaded: LoadedSeries) -> None:
    ds = pydicom.dcmread(written["sr"])
    assert ds.SOPClassUID == SR_CLASS
    text = str(ds)
    assert "Device Observer UID" in text
    assert "25056-3" in text  # procedure reported, CID 100
    declared = [item.CodingSchemeDesignator for item in ds.CodingSchemeIdentificationSequence]
    assert codes.PRIVATE_SCHEME in declared
    library = [item for item in ds.ContentSequence if item.ConceptNameCodeSequence[0].CodeValue == "111028"]
    assert library, "image library missing"
    referenced = {
        item.ReferencedSOPSequence[0].ReferencedSOPInstanceUID
        for group in library[0].ContentSequence
        for item in group.ContentSequence
        if item.ValueType == "IMAGE"
    }
    assert referenced == {d.SOPInstanceUID for d in loaded.datasets}
    evidence = {
        item.ReferencedSOPInstanceUID
        for study in ds.CurrentRequestedProcedureEvidenceSequence
        for series in study.ReferencedSeriesSequence
        for item in series.ReferencedSOPSequence
    }
    assert {d.SOPInstanceUID for d in loaded.datasets} < evidence


def test_says_research_decision_support_and_keeps_identity(written: dict, loaded: LoadedSeries) -> None:
    ds = pydicom.dcmread(written["sr"])
    assert "research" in ds.SeriesDescription.lower()
    texts = _text_values(ds)
    assert any("Not for primary diagnosis" in t for t in texts)
    assert "synthetic phantom" in texts  # the QC warnings travel with the report
    assert ds.SpecificCharacterSet == "ISO_IR 192"
    assert str(ds.PatientName) == "Müller^Jürgen"
    assert ds.StudyInstanceUID == loaded.reference.StudyInstanceUID
    assert ds.SeriesNumber == 9902
    assert ds.CompletionFlag == "COMPLETE" and ds.VerificationFlag == "UNVERIFIED"


def test_report_without_graded_levels_lists_the_segments(
    loaded: LoadedSeries, analysis: SpineAnalysis, tmp_path: Path
) -> None:
    from dataclasses import replace

    bare = replace(analysis, levels=[], vertebrae=[])
    outputs = build_outputs(loaded, bare, JOB_KEY, ResultSettings(uid_root=TEST_UID_ROOT, picture=False))
    sr = next(d for d in outputs if d.SOPClassUID == SR_CLASS)
    path = tmp_path / "sr.dcm"
    sr.save_as(path, enforce_file_format=True)
    groups = hd.sr.srread(path).content.get_volumetric_roi_measurement_groups()
    assert len(groups) == len(next(d for d in outputs if d.SOPClassUID == SEG_CLASS).SegmentSequence)


def _text_values(ds: pydicom.Dataset) -> list[str]:
    out = []
    for item in ds.get("ContentSequence", []):
        if item.ValueType == "TEXT":
            out.append(str(item.TextValue))
        out.extend(_text_values(item))
    return out


def test_findings_of_an_unsegmented_level_become_text_not_a_broken_group(
    loaded: LoadedSeries, analysis: SpineAnalysis, tmp_path: Path
) -> None:
    from dataclasses import replace

    import numpy as np

    label_map = analysis.label_map.copy()
    label_map[label_map == analysis.structure("L5/S1").label] = 0
    outputs = build_outputs(
        loaded, replace(analysis, label_map=label_map), JOB_KEY, ResultSettings(uid_root=TEST_UID_ROOT, picture=False)
    )
    sr = next(d for d in outputs if d.SOPClassUID == SR_CLASS)
    path = tmp_path / "sr.dcm"
    sr.save_as(path, enforce_file_format=True)
    groups = hd.sr.srread(path).content.get_volumetric_roi_measurement_groups()
    assert "L5/S1 disc" not in {g.tracking_identifier for g in groups}
    lines = [t for t in _text_values(pydicom.dcmread(path)) if t.startswith("L5/S1 disc (not segmented)")]
    assert lines and "pfirrmann=not assessed" in lines[0] and "narrowing=severe" in lines[0]
    assert np.any(label_map)


def test_nothing_segmented_gives_pictures_only(loaded: LoadedSeries, analysis: SpineAnalysis) -> None:
    from dataclasses import replace

    import numpy as np

    empty = replace(analysis, label_map=np.zeros_like(analysis.label_map))
    outputs = build_outputs(loaded, empty, JOB_KEY, ResultSettings(uid_root=TEST_UID_ROOT, picture_slices=1))
    assert [d.Modality for d in outputs] == ["OT"]
