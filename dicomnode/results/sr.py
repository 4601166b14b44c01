"""The Comprehensive 3D SR holding a TID 1500 Measurement Report of the grades and measurements.

Structure (PS3.16 TID 1500):

* observer context: the algorithm as a device observer (TID 1004), no person -- nobody read the study;
* procedure reported: "MRI unspecified body region" (LOINC 25056-3), the MR entry of CID 100, which
  has no spine-specific code (a SNOMED "MRI of spine" code made pixelmed report an Error);
* image library: every source image;
* one TID 1411 "Volumetric ROI Measurements" group per disc level and per vertebra with findings,
  whose tracking identifier and tracking UID equal those of its SEG segment and which references that
  segment, names it as finding and finding site, and holds the measurements (UCUM units) and the grades
  as qualitative evaluations (codes from :mod:`.codes`);
* a level that has findings but no segment (the model graded a disc it did not segment) gets a TID 1501
  group without an ROI, so no finding is dropped;
* a grade the input cannot support is coded "Not assessed", never given a value;
* a TID 1500 "Qualitative Evaluations" container with the intended use (research / decision support,
  not for primary diagnosis) and the pipeline's QC warnings as text.

Why Comprehensive 3D SR and not Enhanced SR: TID 1500 with referenced SEG segments is what dcmqi,
Orthanc Stone and OHIF read, and highdicom builds it natively.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import highdicom as hd
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code

from dicomnode.results import codes as dn_codes
from dicomnode.results.seg import SegmentInfo, _common_kwargs, _restore_character_set, software_versions
from dicomnode.results.settings import DISCLAIMER, ResultSettings
from dicomnode.results.uids import UidFactory
from dicomnode.series_loader import LoadedSeries
from pipeline.result import Grade, LevelFindings, Measurement, SpineAnalysis, VertebraFindings

PROCEDURE_MRI = Code("25056-3", "LN", "MRI unspecified body region")
"""CID 100 has no spine MR entry; validators (pixelmed) treat the group as closed, so we use its MR code."""
QUALITATIVE_EVALUATIONS = Code("C0034375", "UMLS", "Qualitative Evaluations")
INTENDED_USE = dn_codes.private("INTENDEDUSE", "Intended use")
RESEARCH_DECISION_SUPPORT = dn_codes.private("RESEARCHDS", "Research / decision support only")
QC_WARNING = dn_codes.private("QCWARNING", "Quality control warning")
NAMING_CERTAIN = dn_codes.private("NAMINGCERTAIN", "Level naming certain")
YES = Code("373066001", "SCT", "Yes")
NO = Code("373067005", "SCT", "No")


def _measurements(items: Sequence[Measurement], site: hd.sr.FindingSite | None) -> list[hd.sr.Measurement]:
    out = []
    for m in items:
        out.append(
            hd.sr.Measurement(
                name=dn_codes.measurement_concept(m.name),
                value=float(m.value),
                unit=dn_codes.unit_code(m.unit),
                finding_sites=[site] if site is not None else None,
            )
        )
    return out


def _evaluations(grades: Sequence[Grade]) -> list[hd.sr.QualitativeEvaluation]:
    return [
        hd.sr.QualitativeEvaluation(name=dn_codes.grade_concept(g.name), value=dn_codes.grade_value(g.name, g.value))
        for g in grades
    ]


def _group(
    segment: SegmentInfo | None,
    seg: hd.seg.Segmentation | None,
    tracking_id: str,
    tracking_uid: str,
    site_code: Code | None,
    grades: Sequence[Grade],
    measurements: Sequence[Measurement],
    algorithm: hd.sr.AlgorithmIdentification,
) -> hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations | hd.sr.MeasurementsAndQualitativeEvaluations:
    site = hd.sr.FindingSite(site_code) if site_code is not None else None
    common = {
        "tracking_identifier": hd.sr.TrackingIdentifier(uid=tracking_uid, identifier=tracking_id),
        "finding_type": site_code,
        "algorithm_id": algorithm,
        "finding_sites": [site] if site is not None else None,
        "measurements": _measurements(measurements, None) or None,
        "qualitative_evaluations": _evaluations(grades) or None,
    }
    if segment is None or seg is None:
        return hd.sr.MeasurementsAndQualitativeEvaluations(**common)
    return hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
        referenced_segment=hd.sr.ReferencedSegment.from_segmentation(seg, segment.number),
        **common,
    )


def _intended_use_container(analysis: SpineAnalysis) -> hd.sr.ContainerContentItem:
    """TID 1500 row "Qualitative Evaluations": intended use, naming certainty, QC warnings."""
    container = hd.sr.ContainerContentItem(
        name=QUALITATIVE_EVALUATIONS, relationship_type=hd.sr.RelationshipTypeValues.CONTAINS
    )
    items: list[Dataset] = [
        hd.sr.CodeContentItem(
            name=INTENDED_USE,
            value=RESEARCH_DECISION_SUPPORT,
            relationship_type=hd.sr.RelationshipTypeValues.CONTAINS,
        ),
        hd.sr.CodeContentItem(
            name=NAMING_CERTAIN,
            value=YES if analysis.qc.naming_certain else NO,
            relationship_type=hd.sr.RelationshipTypeValues.CONTAINS,
        ),
        hd.sr.TextContentItem(
            name=INTENDED_USE, value=DISCLAIMER, relationship_type=hd.sr.RelationshipTypeValues.CONTAINS
        ),
    ]
    for warning in analysis.qc.warnings:
        items.append(
            hd.sr.TextContentItem(
                name=QC_WARNING, value=warning[:1024], relationship_type=hd.sr.RelationshipTypeValues.CONTAINS
            )
        )
    container.ContentSequence = items
    return container


def build_report(
    loaded: LoadedSeries,
    analysis: SpineAnalysis,
    seg: hd.seg.Segmentation | None,
    segments: list[SegmentInfo],
    uids: UidFactory,
    settings: ResultSettings,
    created: datetime | None = None,
) -> hd.sr.Comprehensive3DSR:
    """Build the SR; every group's tracking UID is its SEG segment's, so viewers can link the two."""
    by_label = {s.label: s for s in segments}
    by_name = {s.name: s for s in segments}
    algorithm = hd.sr.AlgorithmIdentification(name=analysis.algorithm_name, version=analysis.algorithm_version)
    groups: list = []
    for level in analysis.levels:
        groups.append(_level_group(level, by_label, seg, uids, algorithm))
    for vertebra in analysis.vertebrae:
        if vertebra.grades or vertebra.measurements:
            groups.append(_vertebra_group(vertebra, by_label, by_name, seg, uids, algorithm))
    if not groups:
        # No graded level (e.g. a region the grading does not cover): the report still lists what
        # was segmented, one group per segment, or a single spine group when nothing was found.
        for segment in segments:
            groups.append(
                _group(segment, seg, segment.tracking_id, segment.tracking_uid, segment.code, [], [], algorithm)
            )
        if not groups:
            groups.append(_group(None, None, "spine", uids.uid("sr.spine"), dn_codes.SPINE_CODE, [], [], algorithm))

    device = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=uids.uid("sr.device-observer"),
            name=analysis.algorithm_name[:64],
            manufacturer_name=settings.manufacturer,
            model_name=f"{analysis.algorithm_name} {analysis.algorithm_version}"[:64],
        ),
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=device),
        procedure_reported=PROCEDURE_MRI,
        imaging_measurements=groups or None,
        referenced_images=_library_images(loaded),
    )
    report[0].ContentSequence.append(_intended_use_container(analysis))

    kwargs = _common_kwargs(loaded.reference, settings, created)
    sr = hd.sr.Comprehensive3DSR(
        evidence=[*loaded.datasets, *([seg] if seg is not None else [])],
        content=report[0],
        series_instance_uid=uids.uid("sr.series"),
        series_number=settings.sr_series_number,
        sop_instance_uid=uids.uid("sr.instance"),
        instance_number=1,
        manufacturer=settings.manufacturer,
        is_complete=True,
        is_final=False,
        is_verified=False,
        series_description=settings.sr_series_description,
        coding_schemes=[dn_codes.coding_scheme_identification()],
        manufacturer_model_name=analysis.algorithm_name[:64],
        software_versions=software_versions(analysis),
        device_serial_number=settings.device_serial_number,
        **kwargs,
    )
    _restore_character_set(sr, loaded.reference)
    return sr


def _library_images(loaded: LoadedSeries) -> list[Dataset]:
    """Images for the TID 1601 image library.

    highdicom describes each entry from top-level Image Plane attributes, which an Enhanced MR object
    keeps in functional groups (PS3.3 C.7.6.16); for it we hand over a header-only stand-in carrying
    the first frame's plane, the shared orientation and spacing, and the object's own UIDs.
    """
    if not loaded.is_multiframe:
        return list(loaded.datasets)
    source = loaded.reference
    first = loaded.frame_numbers.index(min(loaded.frame_numbers))
    stand_in = Dataset()
    for keyword in (
        "SOPClassUID",
        "SOPInstanceUID",
        "Modality",
        "FrameOfReferenceUID",
        "Rows",
        "Columns",
        "StudyDate",
        "ContentDate",
        "ContentTime",
        "AcquisitionDateTime",
    ):
        if keyword in source:
            setattr(stand_in, keyword, source[keyword].value)
    volume = loaded.volume
    stand_in.PixelSpacing = [volume.spacing[1], volume.spacing[2]]
    stand_in.ImageOrientationPatient = [
        *map(float, volume.direction[:, 2]),
        *map(float, volume.direction[:, 1]),
    ]
    position = volume.index_to_lps([first, 0, 0])
    stand_in.ImagePositionPatient = [float(v) for v in position]
    stand_in.SliceThickness = volume.spacing[0]
    return [stand_in]


def _level_group(
    level: LevelFindings,
    by_label: dict[int, SegmentInfo],
    seg: hd.seg.Segmentation | None,
    uids: UidFactory,
    algorithm: hd.sr.AlgorithmIdentification,
):
    segment = by_label.get(level.disc_label)
    code = segment.code if segment else dn_codes.structure_code(level.disc_label, level.level)
    tracking_uid = segment.tracking_uid if segment else uids.uid(f"segment.{level.disc_label}")
    tracking_id = segment.tracking_id if segment else f"{level.level} disc"
    return _group(segment, seg, tracking_id, tracking_uid, code, level.grades, level.measurements, algorithm)


def _vertebra_group(
    vertebra: VertebraFindings,
    by_label: dict[int, SegmentInfo],
    by_name: dict[str, SegmentInfo],
    seg: hd.seg.Segmentation | None,
    uids: UidFactory,
    algorithm: hd.sr.AlgorithmIdentification,
):
    segment = by_label.get(vertebra.label) or by_name.get(vertebra.name)
    code = segment.code if segment else dn_codes.structure_code(vertebra.label, vertebra.name)
    tracking_uid = segment.tracking_uid if segment else uids.uid(f"segment.{vertebra.label}")
    tracking_id = segment.tracking_id if segment else f"{vertebra.name} vertebra"
    return _group(segment, seg, tracking_id, tracking_uid, code, vertebra.grades, vertebra.measurements, algorithm)
