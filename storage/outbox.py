"""The outbox: outputs a job built, and their deliveries to each destination.

Outputs are recorded with their (deterministic) SOP Instance UIDs, so a job that runs again after a
crash finds its outputs already there and adds nothing. Each (output, destination) pair is one delivery
row with its own attempts and backoff: one failing destination never holds up another.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage.db import Database
from storage.events import record_event
from storage.models import Delivery, DeliveryState, Output, utcnow


@dataclass(frozen=True)
class OutputFile:
    kind: str  # "seg", "sr", "picture", "gsps", "findings"
    relative_path: str
    sop_instance_uid: str | None = None
    sop_class_uid: str | None = None
    transfer_syntax_uid: str | None = None


@dataclass(frozen=True)
class DueDelivery:
    id: int
    destination: str
    path: str
    sop_class_uid: str
    transfer_syntax_uid: str
    sop_instance_uid: str
    attempts: int
    rejections: int


def record_outputs(
    session: Session, job_id: int, files: Iterable[OutputFile], routes: dict[str, list[str]]
) -> int:
    """Add outputs of a job and a pending delivery per destination that wants their kind.

    ``routes`` maps a destination name to the output kinds it receives. Returns the number of new
    deliveries. Idempotent: outputs whose SOP Instance UID is known are not added twice.
    """
    added = 0
    for file in files:
        output = None
        if file.sop_instance_uid is not None:
            output = session.scalar(select(Output).where(Output.sop_instance_uid == file.sop_instance_uid))
        if output is None:
            output = Output(job_id=job_id, kind=file.kind, sop_instance_uid=file.sop_instance_uid,
                            sop_class_uid=file.sop_class_uid, transfer_syntax_uid=file.transfer_syntax_uid,
                            path=file.relative_path)
            session.add(output)
            session.flush()
        if file.sop_instance_uid is None:
            continue  # findings.json and other non-DICOM files are kept, never sent
        for destination, kinds in routes.items():
            if file.kind not in kinds:
                continue
            exists = session.scalar(select(Delivery.id).where(
                Delivery.output_id == output.id, Delivery.destination == destination))
            if exists is None:
                session.add(Delivery(output_id=output.id, destination=destination))
                added += 1
    return added


class Outbox:
    """Claiming and settling deliveries; the same lease pattern as the job queue."""

    def __init__(self, db: Database, *, max_attempts: int, rejected_max_attempts: int,
                 backoff_initial_s: float, backoff_max_s: float, lease_s: float = 300.0) -> None:
        self.db = db
        self.max_attempts = max_attempts
        self.rejected_max_attempts = rejected_max_attempts
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.lease = dt.timedelta(seconds=lease_s)

    def claim_due(self, destination: str, limit: int = 50) -> list[DueDelivery]:
        """Take due deliveries of one destination (pending, backoff passed, or an expired lease)."""
        now = utcnow()
        with self.db.session() as session:
            rows = session.execute(
                select(Delivery, Output)
                .join(Output, Delivery.output_id == Output.id)
                .where(Delivery.destination == destination,
                       ((Delivery.state == DeliveryState.pending) & (Delivery.next_attempt_at <= now))
                       | ((Delivery.state == DeliveryState.sending) & (Delivery.lease_expires_at < now)))
                .order_by(Delivery.id)
                .limit(limit)
                .with_for_update(skip_locked=True, of=Delivery)
            ).all()
            due = []
            for delivery, output in rows:
                delivery.state = DeliveryState.sending
                delivery.lease_expires_at = now + self.lease
                due.append(DueDelivery(delivery.id, destination, output.path, output.sop_class_uid or "",
                                       output.transfer_syntax_uid or "", output.sop_instance_uid or "",
                                       delivery.attempts, delivery.rejections))
            return due

    def sent(self, delivery_id: int, status: int) -> None:
        with self.db.session() as session:
            row = session.get(Delivery, delivery_id)
            if row is None:
                return
            row.attempts += 1
            row.state = DeliveryState.sent
            row.last_status = status
            row.last_error = None
            row.sent_at = utcnow()
            row.lease_expires_at = None
            record_event(session, "delivery_attempt", f"{row.destination}: sent (0x{status:04X})",
                         delivery_id=row.id)

    def failed(self, delivery_id: int, error: str, *, status: int | None = None) -> DeliveryState | None:
        """Record a failed attempt. ``status`` set means the peer answered with a failure status
        (a rejection: limited retries); None means the association failed or timed out."""
        with self.db.session() as session:
            row = session.get(Delivery, delivery_id)
            if row is None:
                return None
            row.attempts += 1
            row.last_status = status
            row.last_error = error[-2000:]
            row.lease_expires_at = None
            if status is not None:
                row.rejections += 1
            spent = row.attempts >= self.max_attempts or row.rejections >= self.rejected_max_attempts
            if spent:
                row.state = DeliveryState.dead
            else:
                row.state = DeliveryState.pending
                delay = min(self.backoff_max_s, self.backoff_initial_s * 2 ** (row.attempts - 1))
                row.next_attempt_at = utcnow() + dt.timedelta(seconds=delay)
            what = "dead" if spent else "will retry"
            record_event(session, "delivery_attempt", f"{row.destination}: {error[:300]} ({what})",
                         delivery_id=row.id)
            return row.state

    def release(self, delivery_ids: Iterable[int]) -> None:
        """Give back claimed deliveries that were not attempted (the sender is stopping)."""
        ids = list(delivery_ids)
        if not ids:
            return
        with self.db.session() as session:
            session.execute(
                update(Delivery)
                .where(Delivery.id.in_(ids), Delivery.state == DeliveryState.sending)
                .values(state=DeliveryState.pending, lease_expires_at=None)
            )

    def retry(self, delivery_id: int) -> bool:
        """Revive a dead delivery (`dicomnode retry --delivery`)."""
        with self.db.session() as session:
            row = session.get(Delivery, delivery_id)
            if row is None or row.state != DeliveryState.dead:
                return False
            row.state = DeliveryState.pending
            row.attempts = 0
            row.rejections = 0
            row.next_attempt_at = utcnow()
            record_event(session, "delivery_retried", "by admin", delivery_id=row.id)
            return True
