"""The scheduler tick: decide which series are complete, route them, queue jobs.

DICOM has no end-of-series message, so a series counts as complete once no instance arrived for the
quiet period, or once the hard cap since its first instance has passed (a PACS that trickles forever).
Each tick also re-queues jobs whose worker died (lease expired) and wakes the delivery outbox.

T2/STIR series are paired with a T1 series of their study (:mod:`dicomnode.pairing`) for Modic typing.
A complete T2 whose T1 sibling is still receiving is held (up to ``series.companion_wait_s``), so one
job runs with both. A T1 that completes after its T2 was queued queues the T2 again with the T1 (a new
job key, so new result objects that supersede the first ones) when ``late_arrivals = "reprocess"``;
the same pair never gives a second job.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from dicomnode.config import Settings
from dicomnode.pairing import COMPANION_CONTRAST, Pairing, pair, partners
from dicomnode.routing import SeriesFacts, decide, parse_orientation
from storage.db import Database
from storage.events import record_event
from storage.models import Event, Instance, Series, SeriesState, utcnow
from storage.queue import JobQueue

log = logging.getLogger("dicomnode.scheduler")


def series_facts(session: Session, series: Series) -> SeriesFacts:
    slices = session.scalar(select(func.coalesce(func.sum(Instance.frames), 0)).where(
        Instance.series_id == series.id))
    return SeriesFacts(
        modality=series.modality,
        sop_class_uid=series.sop_class_uid,
        orientation=parse_orientation(series.orientation),
        series_description=series.series_description,
        protocol_name=series.protocol_name,
        body_part=series.body_part,
        calling_ae_title=series.calling_ae_title,
        slices=int(slices or 0),
        own_output=series.own_output,
    )


class Scheduler:
    def __init__(self, settings: Settings, db: Database, queue: JobQueue, pipeline_version: str) -> None:
        self.settings = settings
        self.db = db
        self.queue = queue
        self.pipeline_version = pipeline_version

    def resume_after_restart(self) -> int:
        """Restart the quiet-period clock of series still receiving when the node starts.

        While the node was down no sender could reach it, so silence during the outage says nothing
        about completeness: without this, a series interrupted by a crash would be queued on its partial
        instance set the moment the node came back, before the PACS resends the rest.
        """
        now = utcnow()
        with self.db.session() as session:
            result = session.execute(
                update(Series).where(Series.state == SeriesState.receiving, Series.last_received_at < now)
                .values(last_received_at=now)
            )
            return int(result.rowcount or 0)

    def tick(self, now: dt.datetime | None = None) -> int:
        """One pass; returns the number of series decided. Safe to run on several nodes at once."""
        now = now or utcnow()
        expired = self.queue.requeue_expired()
        if expired:
            log.warning("%d job(s) re-queued after their worker stopped renewing its lease", expired)
        quiet = dt.timedelta(seconds=self.settings.series.quiet_period_s)
        cap = dt.timedelta(seconds=self.settings.series.hard_cap_s)
        decided = 0
        with self.db.session() as session:
            due = session.scalars(
                select(Series)
                .where(Series.state == SeriesState.receiving,
                       or_(Series.last_received_at <= now - quiet, Series.first_received_at <= now - cap))
                .order_by(Series.last_received_at)
                .with_for_update(skip_locked=True)
            ).all()
            for series in due:
                if self._decide(session, series, now):
                    decided += 1
        return decided

    def _decide(self, session: Session, series: Series, now: dt.datetime) -> bool:
        """Route one complete series; False when it is held for its T1 companion (decided later)."""
        decision = decide(self.settings.routing, series_facts(session, series))
        if decision.action == "analyse":
            pairing = pair(session, series)
            if pairing.waiting_for and self._may_wait(series, now):
                self._note_wait(session, series, pairing)
                return False
            series.decision_rule = decision.rule
            series.decision_reason = decision.reason[:2000]
            self._enqueue(session, series, pairing, f"rule {decision.rule}")
        else:
            series.decision_rule = decision.rule
            series.decision_reason = decision.reason[:2000]
            series.state = SeriesState.ignored
            series.decided_at = utcnow()
            record_event(session, "series_ignored", f"{decision.rule}: {decision.reason}"[:2000],
                         series_id=series.id)
            log.info("series %s ignored by %s: %s", series.id, decision.rule, decision.reason)
        if series.contrast == COMPANION_CONTRAST and self.settings.series.late_arrivals == "reprocess":
            self._refresh_partners(session, series)
        return True

    def _enqueue(self, session: Session, series: Series, pairing: Pairing, why: str, quiet: bool = False) -> None:
        companion = pairing.companion
        label = "" if companion is None else _label(companion.series_id, companion.series_number, companion.slices)
        job = self.queue.enqueue_series(
            session, series, self.pipeline_version,
            companion_series_id=companion.series_id if companion else None,
            companion_digest=companion.digest if companion else None,
            companion_label=label, quiet=quiet,
        )
        if job is not None:
            paired = f"T1 companion {label}" if companion else "no T1 companion"
            log.info("series %s complete: job %d queued (%s; %s)", series.id, job.id, why, paired)

    def _may_wait(self, series: Series, now: dt.datetime) -> bool:
        """True while the series is within ``companion_wait_s`` of the moment it became complete."""
        settings = self.settings.series
        complete_at = min(series.last_received_at + dt.timedelta(seconds=settings.quiet_period_s),
                          series.first_received_at + dt.timedelta(seconds=settings.hard_cap_s))
        return now < complete_at + dt.timedelta(seconds=settings.companion_wait_s)

    def _note_wait(self, session: Session, series: Series, pairing: Pairing) -> None:
        """One event and one log line per round of waiting, not one per tick."""
        noted = session.scalar(select(Event.id).where(
            Event.series_id == series.id, Event.kind == "companion_wait",
            Event.at >= series.first_received_at).limit(1))
        if noted is not None:
            return
        others = ", ".join(str(i) for i in pairing.waiting_for)
        record_event(session, "companion_wait", f"T1 series {others} of the same study still receiving",
                     series_id=series.id)
        log.info("series %s complete: waiting up to %.0f s for T1 series %s of the same study", series.id,
                 self.settings.series.companion_wait_s, others)

    def _refresh_partners(self, session: Session, t1: Series) -> None:
        """A T1 just completed: analysed T2/STIR series of its study whose best companion is now a
        different one (or who had none) get a new job; the same pair never queues twice."""
        for partner in partners(session, t1):
            pairing = pair(session, partner)
            if pairing.companion is None or pairing.waiting_for:
                continue  # another T1 still arrives: its completion refreshes the partner again
            self._enqueue(session, partner, pairing, f"T1 series {t1.id} completed after it", quiet=True)


def _label(series_id: int, series_number: int | None, slices: int) -> str:
    """How logs and events name a companion: index id, Series Number, slices (no patient identifiers)."""
    number = f", series number {series_number}" if series_number is not None else ""
    return f"series {series_id}{number}, {slices} slices"
