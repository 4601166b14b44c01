"""One call from a finished analysis to every DICOM object the node sends back.

The worker and the offline ``dicomnode process`` command both call :func:`build_outputs`, so the
service and the offline path can never produce different objects for the same input. All UIDs come
from the job key (see :mod:`.uids`): calling this twice for one job yields the same instances.
"""

from __future__ import annotations

import logging
from datetime import datetime

from pydicom.dataset import Dataset

from dicomnode.results.picture import build_pictures, build_presentation_state
from dicomnode.results.seg import build_segmentation, plan_segments
from dicomnode.results.settings import ResultSettings, output_settings
from dicomnode.results.sr import build_report
from dicomnode.results.uids import UidFactory
from dicomnode.series_loader import LoadedSeries
from pipeline.result import SpineAnalysis

log = logging.getLogger(__name__)

_KIND_BY_SOP_CLASS = {
    "1.2.840.10008.5.1.4.1.1.66.4": "seg",  # Segmentation
    "1.2.840.10008.5.1.4.1.1.88.33": "sr",  # Comprehensive SR
    "1.2.840.10008.5.1.4.1.1.88.34": "sr",  # Comprehensive 3D SR
    "1.2.840.10008.5.1.4.1.1.11.1": "gsps",  # Grayscale Softcopy Presentation State
}


def output_kind(dataset: Dataset) -> str:
    """``"seg"``, ``"sr"``, ``"gsps"`` or ``"picture"``: the name destinations choose outputs by."""
    return _KIND_BY_SOP_CLASS.get(str(dataset.SOPClassUID), "picture")


def build_outputs(
    loaded: LoadedSeries,
    analysis: SpineAnalysis,
    job_key: str,
    settings: ResultSettings | object | None = None,
    *,
    created: datetime | None = None,
    companion: LoadedSeries | None = None,
) -> list[Dataset]:
    """SEG, SR, the Secondary Capture images and the GSPS, in that order, as ``settings`` enables them.

    ``companion`` is the T1 series the analysis read for Modic typing, if any: the SR lists its images
    as evidence and in its image library and names it, so a reader can tell which T1 was used.

    The SR references the SEG's segments, so the SEG is always built; when ``settings.seg`` is off
    it is just not returned (the SR then points at an object the PACS will not have -- a warning says so).

    ``created`` fixes Content/Series Date and Time; pass the job's creation time so that a rebuild
    after a crash is identical in content as well as in UIDs. Without it the current time is used.
    """
    settings = output_settings(settings)
    uids = UidFactory(settings.uid_root, job_key)
    segments = plan_segments(analysis, uids)
    seg = build_segmentation(loaded, analysis, segments, uids, settings, created) if segments else None
    if seg is None:
        log.warning("the analysis labelled no structure: no SEG; the SR and picture say so")
    outputs: list[Dataset] = []
    if settings.seg and seg is not None:
        outputs.append(seg)
    if settings.sr:
        if not settings.seg:
            log.warning("the SR references SEG segments but the SEG output is disabled")
        try:
            outputs.append(build_report(loaded, analysis, seg, segments, uids, settings, created,
                                        companion=companion))
        except ValueError as exc:  # nothing segmented: the picture and findings.json still say so
            log.warning("no SR for this series: %s", exc)
    if settings.picture:
        outputs.extend(build_pictures(loaded, analysis, segments, uids, settings, created))
    if settings.gsps:
        try:
            outputs.append(build_presentation_state(loaded, analysis, segments, uids, settings, created))
        except ValueError as exc:  # an optional output must not fail the job
            log.warning("no presentation state for this series: %s", exc)
    log.info("built %d result objects: %d segments, %d levels", len(outputs), len(segments), len(analysis.levels))
    return outputs


__all__ = ["ResultSettings", "build_outputs", "output_settings"]
