"""The scheduler tick: decide which series are complete, route them, queue jobs.

DICOM has no end-of-series message, so a series counts as complete once no instance arrived for the
quiet period, or once the hard cap since its first instance has passed (a PACS that trickles forever).
Each tick also re-queues jobs whose worker died (lease expired) and wakes the delivery outbox.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from dicomnode.config import Settings
from dicomnode.routing import SeriesFacts, decide, parse_orientation
from storage.db import Database
from storage.events import record_event
from storage.models import Instance, Series, SeriesState, utcnow
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
                self._decide(session, series)
                decided += 1
        return decided

    def _decide(self, session: Session, series: Series) -> None:
        decision = decide(self.settings.routing, series_facts(session, series))
        series.decision_rule = decision.rule
        series.decision_reason = decision.reason[:2000]
        if decision.action == "analyse":
            job = self.queue.enqueue_series(session, series, self.pipeline_version)
            if job is not None:
                log.info("series %s complete: job %d queued (rule %s)", series.id, job.id, decision.rule)
        else:
            series.state = SeriesState.ignored
            series.decided_at = utcnow()
            record_event(session, "series_ignored", f"{decision.rule}: {decision.reason}"[:2000],
                         series_id=series.id)
            log.info("series %s ignored by %s: %s", series.id, decision.rule, decision.reason)
