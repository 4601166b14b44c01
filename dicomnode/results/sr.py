"""The Comprehensive 3D SR holding a TID 1500 Measurement Report of the grades and measurements.

Structure (PS3.16 TID 1500):

* observer context: the algorithm as a device observer (TID 1004), no person -- nobody read the study;
* procedure reported: "MRI unspecified body region" (LOINC 25056-3), the MR entry of CID 100, which
  has no spine-specific code (a SNOMED "MRI of spine" code made pixelmed report an Error);
* image library: every source image, and the images of the T1 companion series when the analysis read
  one for Modic typing (also listed as evidence and named in a text item);
* one TID 1411 "Volumetric ROI Measurements" group per disc level and per vertebra with findings,
  whose tracking identifier and tracking UID equal those of its SEG segment and which references that
  segment, names it as finding and finding site, and holds the measurements (UCUM units) and the grades
  as qualitative evaluations (codes from :mod:`.codes`);
* a level that has findings but no segment (the model graded a disc it did not segment) cannot have a
  TID 1411 group; its findings go, as one text line, into the report's qualitative evaluations (a
  TID 1501 group would be correct DICOM, but pixelmed misreads it as a broken TID 1411);
* a grade the input cannot support is coded "Not assessed", never given a value;
* a TID 1500 "Qualitative Evaluations" container with the intended use (research / decision support,
  not for primary diagnosis), whether the level naming is certain, and the QC warnings as text.

Why Comprehensive 3D SR and not Enhanced SR: TID 1500 with referenced SEG segments is what dcmqi,
Orthanc Stone and OHIF read, and highdicom builds it natively.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

import highdicom as hd
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code

from dicomnode.results import codes as dn_codes
from dicomnode.results.common import common_kwargs, restore_character_set, software_versions
from dicomnode.results.seg import SegmentInfo
from dicomnode.results.settings import DISCLAIMER, ResultSettings
from dicomnode.results.uids import UidFactory
from dicomnode.series_loader import LoadedSeries
from pipeline.result import Grade, Measurement, SpineAnalysis

log = logging.getLogger(__name__)

PROCEDURE_MRI = Code("25056-3", "LN", "MRI unspecified body region")
"""CID 100 has no spine MR entry; validators (pixelmed) treat the group as closed, so we use its MR code."""
QUALITATIVE_EVALUATIONS = Code("C0034375", "UMLS", "Qualitative Evaluations")
INTENDED_USE = dn_codes.private("INTENDEDUSE", "Intended use")
RESEARCH_DECISION_SUPPORT = dn_codes.private("RESEARCHDS", "Research / decision support only")
QC_WARNING = dn_codes.private("QCWARNING", "Quality control warning")
NAMING_CERTAIN = dn_codes.private("NAMINGCERTAIN", "Level naming certain")
UNSEGMENTED_FINDING = dn_codes.private("UNSEGFINDING", "Finding without segmentation")
T1_COMPANION = dn_codes.private("T1COMPANION", "T1 series used for Modic typing")
YES = Code("373066001", "SCT", "Yes")
NO = Code("373067005", "SCT", "No")


def _measurements(items: Sequence[Measurement]) -> list[hd.sr.Measurement]:
    out = []
    for m in items:
        out.append(
            hd.sr.Measurement(
                name=dn_codes.measurement_concept(m.name),
                value=float(m.value),
                unit=dn_codes.unit_code(m.unit),
            )
        )
    return out


def _evaluations(grades: Sequence[Grade]) -> list[hd.sr.QualitativeEvaluation]:
    return [
        hd.sr.QualitativeEvaluation(name=dn_codes.grade_concept(g.name), value=dn_codes.grade_value(g.name, g.value))
        for g in grades
    ]


def _group(
    segment: SegmentInfo,
    seg: hd.seg.Segmentation,
    grades: Sequence[Grade],
    measurements: Sequence[Measurement],
    algorithm: hd.sr.AlgorithmIdentification,
) -> hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations:
    """One TID 1411 group: same tracking identifier/UID as the segment, which it references."""
    return hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=segment.tracking_uid, identifier=segment.tracking_id),
        referenced_segment=hd.sr.ReferencedSegment.from_segmentation(seg, segment.number),
        finding_type=segment.code,
        algorithm_id=algorithm,
        finding_sites=[hd.sr.FindingSite(segment.code)],
        measurements=_measurements(measurements) or None,
        qualitative_evaluations=_evaluations(grades) or None,
    )


def _intended_use_container(
    analysis: SpineAnalysis, unsegmented: Sequence[str] = (), companion: LoadedSeries | None = None
) -> hd.sr.ContainerContentItem:
    """TID 1500 row "Qualitative Evaluations": intended use, naming certainty, QC warnings, and
    the findings of levels that have no segment to hang a TID 1411 group on."""
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
    if companion is not None:
        items.append(
            hd.sr.TextContentItem(
                name=T1_COMPANION,
                value=_companion_text(companion),
                relationship_type=hd.sr.RelationshipTypeValues.CONTAINS,
            )
        )
    for text in unsegmented:
        items.append(
            hd.sr.TextContentItem(
                name=UNSEGMENTED_FINDING, value=text[:1024], relationship_type=hd.sr.RelationshipTypeValues.CONTAINS
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
    *,
    companion: LoadedSeries | None = None,
) -> hd.sr.Comprehensive3DSR:
    """Build the SR; every group's tracking UID is its SEG segment's, so viewers can link the two.

    ``companion``: the T1 series read for Modic typing; its images join the evidence and the library."""
    by_label = {s.label: s for s in segments}
    by_name = {s.name: s for s in segments}
    algorithm = hd.sr.AlgorithmIdentification(name=analysis.algorithm_name, version=analysis.algorithm_version)
    groups: list = []
    unsegmented: list[str] = []
    for name, kind, segment, grades, measurements in _findings(analysis, by_label, by_name):
        if segment is None or seg is None:
            # TID 1411 needs an ROI; a TID 1501 group instead is read as a broken TID 1411 by
            # pixelmed, so the finding goes into the report's qualitative evaluations as text.
            log.warning("%s %s has findings but no segment; reported as text", kind, name)
            unsegmented.append(_finding_text(name, kind, grades, measurements))
            continue
        groups.append(_group(segment, seg, grades, measurements, algorithm))
    if not groups:
        # No graded level with a segment (e.g. a region the grading does not cover): the report
        # still lists what was segmented, one group per segment.
        for segment in segments:
            groups.append(_group(segment, seg, [], [], algorithm))
    if not groups or seg is None:
        raise ValueError("nothing was segmented: a TID 1500 report needs at least one segment to refer to")

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
        referenced_images=_library_images(loaded) + (_library_images(companion) if companion else []),
    )
    report[0].ContentSequence.append(_intended_use_container(analysis, unsegmented, companion))

    kwargs = common_kwargs(loaded.reference, settings, created)
    sr = hd.sr.Comprehensive3DSR(
        evidence=[*loaded.datasets, *(companion.datasets if companion else ()), *([seg] if seg is not None else [])],
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
    restore_character_set(sr, loaded.reference)
    _fix_code_meanings(sr)
    return sr


# Code meanings as PS3.16 currently spells them, where highdicom 0.28 uses an older capitalisation
# (pixelmed warns on every such item).
_CURRENT_MEANINGS = {("121233", "DCM"): "Source image for segmentation"}


def _fix_code_meanings(ds: Dataset) -> None:
    for item in ds.get("ContentSequence", []):
        for concept in item.get("ConceptNameCodeSequence", []):
            key = (str(concept.CodeValue), str(concept.CodingSchemeDesignator))
            if key in _CURRENT_MEANINGS:
                concept.CodeMeaning = _CURRENT_MEANINGS[key]
        _fix_code_meanings(item)


def _companion_text(companion: LoadedSeries) -> str:
    """``series 4 "T1 TSE SAG", 15 slices, Series Instance UID 1.2...``: enough to find it in a viewer."""
    ref = companion.reference
    number = ref.get("SeriesNumber")
    description = str(ref.get("SeriesDescription", "") or "").strip()
    parts = [f"series {number}" if number not in (None, "") else "series"]
    if description:
        parts[0] += f' "{description}"'
    parts.append(f"{companion.volume.shape[0]} slices")
    parts.append(f"Series Instance UID {ref.get('SeriesInstanceUID', '')}")
    return ", ".join(parts)[:1024]


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


def _findings(
    analysis: SpineAnalysis, by_label: dict[int, SegmentInfo], by_name: dict[str, SegmentInfo]
) -> list[tuple[str, str, SegmentInfo | None, list[Grade], list[Measurement]]]:
    """(name, kind, segment or None, grades, measurements) per disc level and per vertebra with findings."""
    out: list[tuple[str, str, SegmentInfo | None, list[Grade], list[Measurement]]] = []
    for level in analysis.levels:
        out.append((level.level, "disc", by_label.get(level.disc_label), level.grades, level.measurements))
    for vertebra in analysis.vertebrae:
        if vertebra.grades or vertebra.measurements:
            segment = by_label.get(vertebra.label) or by_name.get(vertebra.name)
            out.append((vertebra.name, "vertebra", segment, vertebra.grades, vertebra.measurements))
    return out


def _finding_text(name: str, kind: str, grades: Sequence[Grade], measurements: Sequence[Measurement]) -> str:
    """One line, e.g. ``L5/S1 disc (not segmented): pfirrmann=not assessed; slip=3.1 mm``."""
    parts = [f"{g.name}={g.value if g.value is not None else 'not assessed'}" for g in grades]
    parts += [f"{m.name}={m.value:g} {m.unit}" for m in measurements]
    return f"{name} {kind} (not segmented): " + "; ".join(parts)
