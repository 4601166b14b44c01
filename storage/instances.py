"""Indexing received instances: studies, series and instance rows, duplicates and late arrivals.

The receive path calls :func:`lookup_instance` before it moves the file into place (to detect a resend)
and :func:`record_instance` after, inside the transaction whose commit is the acknowledgement.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.events import record_event
from storage.filestore import StoredFile
from storage.models import Instance, Series, SeriesState, Study, utcnow


@dataclass(frozen=True)
class InstanceHeader:
    """The indexed, non-identifying subset of a dataset's header."""

    study_uid: str
    series_uid: str
    sop_instance_uid: str
    sop_class_uid: str
    transfer_syntax_uid: str
    modality: str | None = None
    series_number: int | None = None
    series_description: str | None = None
    protocol_name: str | None = None
    body_part: str | None = None
    orientation: str | None = None
    frame_of_reference_uid: str | None = None
    contrast: str | None = None
    """The loader's contrast hint (``"T2"``, ``"T1"``, ``"STIR"``), used to pair T2 with T1 series."""
    instance_number: int | None = None
    frames: int = 1
    own_output: bool = False


class LateArrival(enum.StrEnum):
    none = "none"
    reprocess = "reprocess"
    ignored = "ignored"


def lookup_instance(session: Session, sop_instance_uid: str) -> Instance | None:
    return session.scalar(select(Instance).where(Instance.sop_instance_uid == sop_instance_uid))


def _series_for(session: Session, header: InstanceHeader, calling_ae_title: str | None) -> Series:
    series = session.scalar(select(Series).where(Series.series_uid == header.series_uid))
    if series is not None:
        return series
    study = session.scalar(select(Study).where(Study.study_uid == header.study_uid))
    if study is None:
        study = Study(study_uid=header.study_uid)
        session.add(study)
        session.flush()
    now = utcnow()
    series = Series(
        series_uid=header.series_uid,
        study_id=study.id,
        modality=header.modality,
        sop_class_uid=header.sop_class_uid,
        series_number=header.series_number,
        series_description=(header.series_description or "")[:128] or None,
        protocol_name=(header.protocol_name or "")[:128] or None,
        body_part=(header.body_part or "")[:64] or None,
        orientation=header.orientation,
        frame_of_reference_uid=header.frame_of_reference_uid,
        contrast=header.contrast,
        calling_ae_title=calling_ae_title,
        own_output=header.own_output,
        state=SeriesState.receiving,
        first_received_at=now,
        last_received_at=now,
    )
    session.add(series)
    session.flush()
    record_event(session, "series_started", f"modality={header.modality}", series_id=series.id)
    return series


def record_instance(
    session: Session,
    header: InstanceHeader,
    stored: StoredFile,
    calling_ae_title: str | None,
    late_arrivals: str,
) -> LateArrival:
    """Add the instance row and touch its series. Returns what a late arrival did to the series.

    A series whose job is already queued (or that was ignored) is "decided"; a new instance for it is a
    late arrival. With ``reprocess`` the series goes back to receiving, so after a new quiet period a
    job runs on the grown instance set (its digest, hence its job key, differs). With ``ignore`` the
    instance is kept and logged, and nothing else happens.
    """
    series = _series_for(session, header, calling_ae_title)
    session.add(
        Instance(
            sop_instance_uid=header.sop_instance_uid,
            series_id=series.id,
            sop_class_uid=header.sop_class_uid,
            transfer_syntax_uid=header.transfer_syntax_uid,
            instance_number=header.instance_number,
            frames=header.frames,
            path=stored.relative_path,
            size=stored.size,
            sha256=stored.sha256,
        )
    )
    now = utcnow()
    outcome = LateArrival.none
    if series.state != SeriesState.receiving:
        if late_arrivals == "reprocess":
            series.state = SeriesState.receiving
            series.first_received_at = now  # a new round of the quiet-period/hard-cap clock
            series.decided_at = None
            outcome = LateArrival.reprocess
        else:
            outcome = LateArrival.ignored
        record_event(session, f"late_instance_{outcome.value}", series_id=series.id)
    if outcome is not LateArrival.ignored:
        series.last_received_at = now
    return outcome
