"""The audit trail: one helper so every module records events the same way (and never with PHI)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from storage.models import Event


def record_event(
    session: Session,
    kind: str,
    detail: str | None = None,
    *,
    series_id: int | None = None,
    job_id: int | None = None,
    delivery_id: int | None = None,
) -> None:
    session.add(Event(kind=kind, detail=detail, series_id=series_id, job_id=job_id, delivery_id=delivery_id))
