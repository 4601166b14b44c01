"""The DICOM Segmentation (PS3.3 A.51): one BINARY segment per vertebra, disc and canal.

Choices and why (see also docs/codes.md):

* BINARY, uncompressed (Explicit VR Little Endian): dcmqi cannot read JPEG 2000 binary SEGs and
  several PACS do not decode compressed SEG; LABELMAP SEG is too new for most viewers.
* Mutually exclusive masks, one per label value of the pipeline's label map: OHIF and others draw
  overlapping segments badly, and the label map cannot overlap by construction.
* Frames follow the source frames one to one (highdicom matches them via the Derivation Image
  Sequence), so the geometry is the source's whatever the slice order or IOP convention was. The mask
  is handed over in *source order* -- spatial order for classic files, frame order for Enhanced MR.
* Segment and tracking UIDs are derived from the job key, so a rebuilt SEG is byte-for-byte the same
  object identity (see :mod:`.uids`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import highdicom as hd
import numpy as np
from numpy.typing import NDArray
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code

from dicomnode.results import codes as dn_codes
from dicomnode.results.common import common_kwargs, restore_character_set, set_body_part, software_versions
from dicomnode.results.settings import SHORT_DISCLAIMER, ResultSettings
from dicomnode.results.uids import UidFactory
from dicomnode.series_loader import LoadedSeries
from pipeline import labels
from pipeline.result import SpineAnalysis

log = logging.getLogger(__name__)

SEG_CONTENT_LABEL = "SPINE_AI"


@dataclass(frozen=True)
class SegmentInfo:
    """What the SR and the picture need to know about one segment of the SEG."""

    number: int
    label: int
    name: str
    """Level name, the segment label (``"L4"``, ``"L4/L5"``, ``"S1"``, ``"spinal canal"``)."""
    kind: str
    code: Code
    tracking_uid: str
    tracking_id: str


def _known(label: int) -> bool:
    return labels.is_vertebra(label) or labels.is_disc(label) or label in (labels.CANAL, labels.CORD)


def _kind(label: int) -> str:
    if labels.is_vertebra(label):
        return "vertebra"
    if labels.is_disc(label):
        return "disc"
    return "canal" if label == labels.CANAL else "cord"


def _order_key(label: int, name: str) -> tuple[int, int]:
    """Vertebrae head to foot, then discs head to foot, then canal and cord: how readers scan a list."""
    if labels.is_vertebra(label):
        return (0, labels.SPINE_ORDER.index(labels.VERTEBRA_NAMES[label]))
    if labels.is_disc(label):
        return (1, labels.SPINE_ORDER.index(labels.VERTEBRA_NAMES[label - labels.DISC_OFFSET]))
    return (2, label)


def plan_segments(analysis: SpineAnalysis, uids: UidFactory) -> list[SegmentInfo]:
    """Number the segments, one per label value present in the label map.

    Label values outside the contract of :mod:`pipeline.labels` are left out with a warning.
    A structure the analysis lists without voxels gets no segment (a SEG segment must have pixels to
    be useful, and its SR group would reference nothing); a label value in the map that the analysis
    does not list still gets a segment, named by :func:`pipeline.labels.label_name`, so no voxel of the
    label map is silently dropped.
    """
    present = {int(v) for v in np.unique(analysis.label_map) if v != 0}
    unknown = sorted(v for v in present if not _known(v))
    if unknown:
        # Outside the label contract (pipeline.labels): no code, no name we could stand behind.
        log.warning("label values %s are not vertebra/disc/canal/cord labels; not written to the SEG", unknown)
        present -= set(unknown)
    names = {s.label: s.name for s in analysis.structures}
    for s in analysis.structures:
        if s.label not in present:
            log.warning("structure %s (label %d) has no voxels; no segment written", s.name, s.label)
    infos = []
    ordered = sorted(present, key=lambda v: _order_key(v, names.get(v, "")))
    for number, label in enumerate(ordered, start=1):
        name = names.get(label) or _default_name(label)
        infos.append(
            SegmentInfo(
                number=number,
                label=label,
                name=name,
                kind=_kind(label),
                code=dn_codes.structure_code(label, name),
                tracking_uid=uids.uid(f"segment.{label}"),
                tracking_id=f"{name} {_kind(label)}" if _kind(label) in ("vertebra", "disc") else name,
            )
        )
    return infos


def _default_name(label: int) -> str:
    return "S1" if label == labels.SACRUM else labels.label_name(label)


def segment_array(label_map: NDArray[np.integer], segments: list[SegmentInfo]) -> NDArray[np.uint16]:
    """The label map with label values replaced by segment numbers (0 stays background)."""
    lut = np.zeros(max(256, int(label_map.max()) + 1), dtype=np.uint16)
    for seg in segments:
        lut[seg.label] = seg.number
    return lut[label_map.astype(np.intp)]


def build_segmentation(
    loaded: LoadedSeries,
    analysis: SpineAnalysis,
    segments: list[SegmentInfo],
    uids: UidFactory,
    settings: ResultSettings,
    created: datetime | None = None,
) -> hd.seg.Segmentation:
    """Build the SEG; refuses a label map that is not on the source grid."""
    if analysis.label_map.shape != loaded.volume.shape:
        raise ValueError(
            f"label map shape {analysis.label_map.shape} differs from the series {loaded.volume.shape}; "
            "the SEG must be on the source grid"
        )
    if not segments:
        raise ValueError("the label map is empty: a SEG needs at least one segment")
    algorithm = hd.AlgorithmIdentificationSequence(
        name=analysis.algorithm_name,
        family=codes.cid7162.ArtificialIntelligence,
        version=analysis.algorithm_version,
        source=settings.manufacturer,
    )
    descriptions = []
    for seg in segments:
        descriptions.append(
            hd.seg.SegmentDescription(
                segment_number=seg.number,
                segment_label=seg.name,
                segmented_property_category=dn_codes.ANATOMICAL_STRUCTURE,
                segmented_property_type=seg.code,
                algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
                algorithm_identification=algorithm,
                tracking_uid=seg.tracking_uid,
                tracking_id=seg.tracking_id,
                display_color=dn_codes.structure_cielab(seg.label),
            )
        )
    mask = loaded.to_source_order(segment_array(analysis.label_map, segments))
    used = [seg.code for seg in segments]
    kwargs = common_kwargs(loaded.reference, settings, created)
    if dn_codes.uses_private_scheme(used):
        kwargs["coding_schemes"] = [dn_codes.coding_scheme_identification()]
    seg = hd.seg.Segmentation(
        source_images=list(loaded.datasets),
        pixel_array=mask,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=uids.uid("seg.series"),
        series_number=settings.seg_series_number,
        sop_instance_uid=uids.uid("seg.instance"),
        instance_number=1,
        manufacturer=settings.manufacturer,
        manufacturer_model_name=analysis.algorithm_name[:64],
        software_versions=software_versions(analysis),
        device_serial_number=settings.device_serial_number,
        content_description=SHORT_DISCLAIMER,
        content_label=SEG_CONTENT_LABEL,
        omit_empty_frames=not settings.keep_empty_frames,
        series_description=settings.seg_series_description,
        **kwargs,
    )
    restore_character_set(seg, loaded.reference)
    set_body_part(seg, loaded.reference)
    return seg
