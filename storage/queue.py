"""The job queue: enqueue by job key, claim atomically, lease, retry with backoff, dead letter.

All claim/lease logic lives here. Claiming is one transaction that selects the oldest due job and marks
it running. On PostgreSQL the select uses ``FOR UPDATE SKIP LOCKED`` so many workers on many machines
never block each other nor take the same job; on SQLite the engine begins every transaction with
``BEGIN IMMEDIATE`` (see :mod:`storage.db`), which serialises writers, so the same code is atomic there.

A worker holds a lease and renews it while it runs; a job whose lease expired (its worker died) is put
back for another attempt by :meth:`JobQueue.requeue_expired`, which every scheduler tick calls.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import socket
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage.db import Database
from storage.events import record_event
from storage.models import Instance, Job, JobState, Series, SeriesState, utcnow

CLAIMABLE = (JobState.queued, JobState.failed)


def instance_digest(rows: Iterable[tuple[str, str]]) -> str:
    """Digest of an instance set: its SOP Instance UIDs and content hashes, order-independent."""
    digest = hashlib.sha256()
    for sop_uid, sha in sorted(rows):
        digest.update(f"{sop_uid}:{sha}\n".encode())
    return digest.hexdigest()


def series_digest(session: Session, series_id: int) -> tuple[str, int]:
    """:func:`instance_digest` of a series' instances as the index holds them now, and their count."""
    rows = session.execute(
        select(Instance.sop_instance_uid, Instance.sha256).where(Instance.series_id == series_id)
    ).all()
    return instance_digest((r[0], r[1]) for r in rows), len(rows)


def job_key(series_uid: str, digest: str, pipeline_version: str) -> str:
    """series UID + digest of the instance set + pipeline version (output UIDs derive from it)."""
    return f"{series_uid}:{digest[:32]}:{pipeline_version}"


def paired_digest(digest: str, companion_digest: str | None) -> str:
    """The digest a job key is built from: the series' own, or, with a T1 companion, both together.

    Without a companion the digest is the series' own, so keys of unpaired jobs are what they always
    were; with one, a different T1 (or the same T1 grown) is a different job, and the same pair is the
    same job, whatever the order in which the two series completed.
    """
    if companion_digest is None:
        return digest
    return hashlib.sha256(f"{digest}+t1:{companion_digest}".encode()).hexdigest()


def new_worker_id() -> str:
    """host:pid:random, so a restarted worker on the same host is recognisably a different worker."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class ClaimedJob:
    id: int
    job_key: str
    series_id: int
    series_uid: str
    attempt: int
    worker_id: str
    created_at: dt.datetime
    """When the job was queued; outputs take their content dates from it, so a rerun is identical."""
    companion_series_id: int | None = None
    """The T1 series to load with the analysed one (Modic typing), chosen when the job was queued."""
    companion_digest: str | None = None
    """Its instance-set digest then: the worker uses the T1 only while it is still that same set."""


class JobQueue:
    """Queue operations over the ``jobs`` table. Thread- and process-safe through the database."""

    def __init__(self, db: Database, lease_s: float, max_attempts: int, backoff_s: float) -> None:
        self.db = db
        self.lease = dt.timedelta(seconds=lease_s)
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s

    def enqueue_series(self, session: Session, series: Series, pipeline_version: str, *,
                       companion_series_id: int | None = None, companion_digest: str | None = None,
                       companion_label: str = "", quiet: bool = False) -> Job | None:
        """Queue a job for the series' current instance set (and T1 companion, if given); None if that
        exact job exists already (recorded as an event unless ``quiet``)."""
        digest, count = series_digest(session, series.id)
        key = job_key(series.series_uid, paired_digest(digest, companion_digest), pipeline_version)
        series.state = SeriesState.queued
        if session.scalar(select(Job.id).where(Job.job_key == key)) is not None:
            if not quiet:
                series.decided_at = utcnow()
                record_event(session, "job_exists", "same instance set already queued", series_id=series.id)
            return None
        series.decided_at = utcnow()
        job = Job(
            job_key=key,
            series_id=series.id,
            instance_digest=digest,
            instance_count=count,
            companion_series_id=companion_series_id,
            companion_digest=companion_digest,
            pipeline_version=pipeline_version,
            state=JobState.queued,
            max_attempts=self.max_attempts,
        )
        session.add(job)
        session.flush()
        detail = f"{count} instances" + (f"; T1 companion {companion_label}" if companion_label else "")
        record_event(session, "job_queued", detail, series_id=series.id, job_id=job.id)
        return job

    def claim(self, worker_id: str) -> ClaimedJob | None:
        """Take the oldest due job, or None. Exactly one worker gets any given job."""
        now = utcnow()
        with self.db.session() as session:
            job = session.scalar(
                select(Job)
                .where(Job.state.in_(CLAIMABLE), Job.available_at <= now)
                .order_by(Job.available_at, Job.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            if job is None:
                return None
            job.state = JobState.running
            job.attempts += 1
            job.worker_id = worker_id
            job.started_at = now
            job.lease_expires_at = now + self.lease
            record_event(session, "job_started", f"attempt {job.attempts} by {worker_id}", job_id=job.id,
                         series_id=job.series_id)
            series_uid = session.scalar(select(Series.series_uid).where(Series.id == job.series_id))
            return ClaimedJob(job.id, job.job_key, job.series_id, series_uid or "", job.attempts, worker_id,
                              job.created_at, job.companion_series_id, job.companion_digest)

    def heartbeat(self, job: ClaimedJob) -> bool:
        """Extend the lease; False if the job is no longer ours (it expired and went to someone else)."""
        with self.db.session() as session:
            result = session.execute(
                update(Job)
                .where(Job.id == job.id, Job.worker_id == job.worker_id, Job.state == JobState.running)
                .values(lease_expires_at=utcnow() + self.lease)
            )
            return result.rowcount == 1

    def succeed(self, job: ClaimedJob, detail: str | None = None) -> bool:
        with self.db.session() as session:
            row = self._owned(session, job)
            if row is None:
                return False
            row.state = JobState.succeeded
            row.finished_at = utcnow()
            row.lease_expires_at = None
            row.error = None
            record_event(session, "job_succeeded", detail, job_id=job.id, series_id=job.series_id)
            return True

    def fail(self, job: ClaimedJob, error: str) -> JobState | None:
        """Record a failure: retried after an exponential backoff, or dead when attempts are spent."""
        with self.db.session() as session:
            row = self._owned(session, job)
            if row is None:
                return None
            self._failed(session, row, error)
            return row.state

    def _failed(self, session: Session, row: Job, error: str) -> None:
        now = utcnow()
        row.error = error[-4000:]
        row.finished_at = now
        row.lease_expires_at = None
        if row.attempts >= row.max_attempts:
            row.state = JobState.dead
            record_event(session, "job_dead", error[-500:], job_id=row.id, series_id=row.series_id)
        else:
            row.state = JobState.failed
            row.available_at = now + dt.timedelta(seconds=self.backoff_s * 2 ** (row.attempts - 1))
            record_event(session, "job_failed", error[-500:], job_id=row.id, series_id=row.series_id)

    def requeue_expired(self) -> int:
        """Jobs whose worker stopped renewing its lease go back to the queue (or die if spent)."""
        now = utcnow()
        with self.db.session() as session:
            rows = session.scalars(
                select(Job)
                .where(Job.state == JobState.running, Job.lease_expires_at < now)
                .with_for_update(skip_locked=True)
            ).all()
            for row in rows:
                self._failed(session, row, f"lease expired (worker {row.worker_id} stopped)")
                if row.state == JobState.failed:
                    row.available_at = now
            return len(rows)

    def release_dead_local_workers(self) -> int:
        """At start: jobs held by a process of this host that no longer exists are re-queued at once,
        instead of waiting for their lease to expire."""
        host = socket.gethostname()
        released = 0
        with self.db.session() as session:
            rows = session.scalars(select(Job).where(Job.state == JobState.running)).all()
            for row in rows:
                parts = (row.worker_id or "").split(":")
                if len(parts) == 3 and parts[0] == host and parts[1].isdigit() and not _alive(int(parts[1])):
                    self._failed(session, row, f"worker {row.worker_id} is gone (node restarted)")
                    if row.state == JobState.failed:
                        row.available_at = utcnow()
                    released += 1
        return released

    def retry(self, job_id: int) -> bool:
        """Revive a dead or failed job now, with a fresh attempt budget (`dicomnode retry`)."""
        with self.db.session() as session:
            row = session.get(Job, job_id)
            if row is None or row.state not in (JobState.dead, JobState.failed):
                return False
            row.state = JobState.queued
            row.max_attempts = row.attempts + self.max_attempts
            row.available_at = utcnow()
            record_event(session, "job_retried", "by admin", job_id=row.id, series_id=row.series_id)
            return True

    @staticmethod
    def _owned(session: Session, job: ClaimedJob) -> Job | None:
        row = session.get(Job, job.id, with_for_update=True)
        if row is None or row.worker_id != job.worker_id or row.state != JobState.running:
            return None
        return row


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
