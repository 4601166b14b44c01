"""Pairing a T2 (or STIR) series with a T1 series of the same study, so the grading can type Modic changes.

Modic typing compares the endplate marrow on T1 and T2 (Modic 1988); one contrast alone cannot tell
type I from type II. A spine protocol acquires both, and the PACS sends them as separate series of one
study, often within seconds. The node therefore pairs them itself:

* the *analysed* series is one whose contrast hint (:func:`dicomnode.series_loader.contrast_hint`, the
  same rule the loader puts into ``Volume.contrast``) is T2 or STIR;
* its *companion* is another series of the same study that is MR, sagittal, T1, in the same frame of
  reference (FrameOfReferenceUID: the grading overlays the two by patient coordinates, which is only
  meaningful inside one frame of reference), not made by a dicomnode, and complete (not receiving);
* among several, the one with the most slices wins, then the one received last, then the higher
  Series Instance UID: a deterministic choice, so a rerun of a job picks the same series.

The scheduler asks :func:`pair` when a series is complete; the companion it finds (its id and the
digest of its instance set) becomes part of the job and of the job key. The worker and the offline
``dicomnode process --t1`` check the files again with :func:`companion_problem` before handing the T1
to the pipeline, and describe what they used with :func:`series_summary` in findings.json.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dicomnode.routing import parse_orientation, plane_of
from dicomnode.series_loader import LoadedSeries
from storage.models import Instance, Series, SeriesState
from storage.queue import series_digest

PAIRED_CONTRASTS = frozenset({"T2", "STIR"})
"""Contrasts whose analysis looks for a T1 companion (the grading types Modic on T2 + T1)."""
COMPANION_CONTRAST = "T1"
USED_NOTE = "T1 series of the same study and frame of reference used for Modic typing"
"""findings.json's ``t1_companion_note`` when a T1 was used (worker and ``dicomnode process`` alike)."""


@dataclass(frozen=True)
class Companion:
    """The T1 series chosen for a job: its index row and the digest of its instance set."""

    series_id: int
    series_uid: str
    series_number: int | None
    digest: str
    slices: int


@dataclass(frozen=True)
class Pairing:
    """What the index says about a series' T1 companion right now."""

    companion: Companion | None
    """The best complete candidate, or None."""
    waiting_for: tuple[int, ...] = ()
    """Ids of candidate series still receiving: one of them may become (a better) companion."""


def wants_companion(contrast: str | None) -> bool:
    return contrast in PAIRED_CONTRASTS


def _slices(session: Session, series_id: int) -> int:
    return int(session.scalar(select(func.coalesce(func.sum(Instance.frames), 0)).where(
        Instance.series_id == series_id)) or 0)


def candidates(session: Session, series: Series) -> list[Series]:
    """Every series that could be the T1 companion of ``series``, complete or still receiving."""
    if not wants_companion(series.contrast) or not series.frame_of_reference_uid:
        return []
    rows = session.scalars(
        select(Series).where(
            Series.study_id == series.study_id,
            Series.id != series.id,
            Series.contrast == COMPANION_CONTRAST,
            Series.frame_of_reference_uid == series.frame_of_reference_uid,
            Series.modality == "MR",
            Series.own_output.is_(False),
        )
    ).all()
    return [row for row in rows if plane_of(parse_orientation(row.orientation)) == "sagittal"]


def pair(session: Session, series: Series) -> Pairing:
    """The companion of ``series`` among complete candidates, and the candidates still receiving."""
    found = candidates(session, series)
    waiting = tuple(sorted(row.id for row in found if row.state == SeriesState.receiving))
    ranked = []
    for row in found:
        if row.state == SeriesState.receiving:
            continue
        slices = _slices(session, row.id)
        if slices > 0:
            ranked.append((slices, row.last_received_at, row.series_uid, row))
    if not ranked:
        return Pairing(None, waiting)
    slices, _, _, best = max(ranked, key=lambda item: item[:3])
    digest, _ = series_digest(session, best.id)
    return Pairing(Companion(best.id, best.series_uid, best.series_number, digest, slices), waiting)


def partners(session: Session, t1: Series) -> list[Series]:
    """Analysed T2/STIR series of ``t1``'s study and frame of reference: the series a newly complete
    T1 may give Modic typing to (:meth:`dicomnode.scheduler.Scheduler` queues them again)."""
    if t1.contrast != COMPANION_CONTRAST or not t1.frame_of_reference_uid or t1.own_output:
        return []
    return list(session.scalars(
        select(Series).where(
            Series.study_id == t1.study_id,
            Series.id != t1.id,
            Series.contrast.in_(sorted(PAIRED_CONTRASTS)),
            Series.frame_of_reference_uid == t1.frame_of_reference_uid,
            Series.state == SeriesState.queued,
            Series.own_output.is_(False),
        ).order_by(Series.id)
    ).all())


def companion_problem(analysed: LoadedSeries, t1: LoadedSeries) -> str | None:
    """Why the loaded ``t1`` must not be used with ``analysed`` (one line), or None when it may.

    The index already chose by these rules; checking the files again costs nothing and guards the
    offline path, where the user names the folders by hand.
    """
    a, b = analysed.reference, t1.reference
    if t1.volume.contrast != COMPANION_CONTRAST:
        return f"the companion series is {t1.volume.contrast or 'of unknown contrast'}, not T1"
    if str(a.get("StudyInstanceUID", "")) != str(b.get("StudyInstanceUID", "")):
        return "the T1 series belongs to another study"
    reference_a, reference_b = str(a.get("FrameOfReferenceUID", "")), str(b.get("FrameOfReferenceUID", ""))
    if not reference_a or reference_a != reference_b:
        return "the T1 series is in another frame of reference (FrameOfReferenceUID differs)"
    if str(a.get("SeriesInstanceUID", "")) == str(b.get("SeriesInstanceUID", "")):
        return "the T1 series is the analysed series itself"
    return None


def series_summary(loaded: LoadedSeries) -> dict[str, Any]:
    """Which series this is, without patient identifiers: for findings.json and the job's events."""
    ref = loaded.reference
    number = ref.get("SeriesNumber")
    return {
        "series_instance_uid": str(ref.get("SeriesInstanceUID", "")),
        "series_number": int(number) if number not in (None, "") else None,
        "series_description": str(ref.get("SeriesDescription", "") or ""),
        "contrast": loaded.volume.contrast,
        "frame_of_reference_uid": str(ref.get("FrameOfReferenceUID", "")),
        "slices": int(loaded.volume.shape[0]),
    }


def findings_document(analysis: Any, analysed: LoadedSeries, t1: LoadedSeries | None,
                      note: str) -> dict[str, Any]:
    """findings.json: the analysis, plus which series were read (the T1 companion or why there is none)."""
    document = analysis.to_dict()
    document["source_series"] = series_summary(analysed)
    document["t1_companion"] = None if t1 is None else {**series_summary(t1), "used_for": "Modic typing"}
    document["t1_companion_note"] = note
    return document
