"""The analysis worker: claim a job, load its series, run the pipeline, put the results in the outbox.

One worker holds the model loaded once (a GPU worker per GPU; CPU otherwise). While a job runs, a
heartbeat renews its lease, so a worker that dies is noticed and its job re-queued; a worker that
merely runs long is left alone. Outputs have UIDs derived from the job key, so a job that runs twice
(a crash after sending) produces the very same instances.

A job queued with a T1 companion (:mod:`dicomnode.pairing`) loads that series too and hands it to the
analysis for Modic typing, but only while its instance set is still the one the job key was built
from; which T1 was used, or why none, goes into the job's events, the log and findings.json.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from dicomnode.config import Settings
from storage.db import Database
from storage.events import record_event
from storage.filestore import FileStore, fsync_directory
from storage.models import Instance
from storage.outbox import OutputFile, record_outputs
from storage.queue import ClaimedJob, JobQueue, new_worker_id

if TYPE_CHECKING:
    from dicomnode.series_loader import LoadedSeries

log = logging.getLogger("dicomnode.worker")

ANALYSED_SOP_CLASSES = ("1.2.840.10008.5.1.4.1.1.4", "1.2.840.10008.5.1.4.1.1.4.1")


class JobRunner:
    """Runs one claimed job end to end. The analysis and the builders are injected so the whole path
    can be exercised with any analysis (the bundled model in the service)."""

    def __init__(self, settings: Settings, db: Database, store: FileStore,
                 analyse: Callable[..., Any]) -> None:
        self.settings = settings
        self.db = db
        self.store = store
        self.analyse = analyse

    def source_paths(self, series_id: int) -> list[Path]:
        with self.db.session() as session:
            rows = session.scalars(select(Instance.path).where(
                Instance.series_id == series_id, Instance.sop_class_uid.in_(ANALYSED_SOP_CLASSES))).all()
        return [self.store.absolute(path) for path in rows]

    def run(self, job: ClaimedJob) -> str:
        from dicomnode.pairing import findings_document
        from dicomnode.results.build import build_outputs
        from dicomnode.results.settings import output_settings
        from dicomnode.series_loader import load_series

        loaded = load_series(self.source_paths(job.series_id))
        t1, note = self.companion(job, loaded)
        analysis = self.analyse(loaded.volume) if t1 is None else self.analyse(loaded.volume, t1=t1.volume)
        created = job.created_at.replace(tzinfo=dt.UTC)
        datasets = build_outputs(loaded, analysis, job.job_key, output_settings(self.settings.outputs),
                                 created=created, companion=t1)
        folder = self.store.outbox / f"job-{job.id}"
        folder.mkdir(parents=True, exist_ok=True)
        files = [self._write_dataset(folder, dataset) for dataset in datasets]
        findings = folder / "findings.json"
        document = findings_document(analysis, loaded, t1, note)
        findings.write_text(json.dumps(document, indent=2, default=str), encoding="utf-8")
        files.append(OutputFile("findings", self.store.relative(findings)))
        fsync_directory(folder)
        routes = {d.name: list(d.outputs) for d in self.settings.destinations}
        with self.db.session() as session:
            deliveries = record_outputs(session, job.id, files, routes)
        paired = "" if t1 is None else f", T1 companion series {job.companion_series_id}"
        return f"{len(datasets)} objects, {deliveries} deliveries, {len(analysis.structures)} structures{paired}"

    def companion(self, job: ClaimedJob, loaded: LoadedSeries) -> tuple[LoadedSeries | None, str]:
        """The job's T1 companion as a LoadedSeries (or None) and one line for findings.json saying
        which series it is or why there is none. A T1 that cannot be used never fails the job: the
        analysis runs on the T2 alone and reports Modic typing as not assessed."""
        from dicomnode.pairing import USED_NOTE, companion_problem, wants_companion
        from dicomnode.series_loader import SeriesLoadError, load_series
        from storage.queue import instance_digest

        if job.companion_series_id is None:
            if wants_companion(loaded.volume.contrast):
                return None, ("no complete sagittal T1 series of this study in the same frame of reference "
                              "was received before the analysis")
            return None, f"T1 pairing applies to T2 and STIR series; this series is {loaded.volume.contrast}"
        with self.db.session() as session:
            rows = session.execute(select(Instance.sop_instance_uid, Instance.sha256, Instance.path).where(
                Instance.series_id == job.companion_series_id)).all()
        reason = None
        t1 = None
        if instance_digest((r[0], r[1]) for r in rows) != job.companion_digest:
            reason = ("the T1 series changed after this job was queued (instances arrived late); a new job "
                      "follows once it is complete")
        else:
            paths = [self.store.absolute(r[2]) for r in rows]
            try:
                t1 = load_series(paths)
            except SeriesLoadError as exc:
                reason = f"the T1 series cannot be read as one stack: {exc}"
            else:
                reason = companion_problem(loaded, t1)
        label = f"series {job.companion_series_id}"
        if t1 is None or reason is not None:
            with self.db.session() as session:
                record_event(session, "companion_unused", f"T1 companion {label}: {reason}"[:2000],
                             series_id=job.series_id, job_id=job.id)
            log.warning("job %d: T1 companion %s not used: %s", job.id, label, reason)
            return None, f"T1 companion not used: {reason}"
        detail = f"T1 companion {label} ({t1.volume.shape[0]} slices) used for Modic typing"
        with self.db.session() as session:
            record_event(session, "companion_used", detail, series_id=job.series_id, job_id=job.id)
        log.info("job %d: %s", job.id, detail)
        return t1, USED_NOTE

    def _write_dataset(self, folder: Path, dataset: Any) -> OutputFile:
        from dicomnode.results.build import output_kind

        kind = output_kind(dataset)
        path = folder / f"{kind}-{dataset.SOPInstanceUID}.dcm"
        temporary = path.with_suffix(".part")
        dataset.save_as(temporary, enforce_file_format=True)
        with temporary.open("rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path)
        return OutputFile(kind, self.store.relative(path), str(dataset.SOPInstanceUID),
                          str(dataset.SOPClassUID), str(dataset.file_meta.TransferSyntaxUID))


class Worker:
    """A loop that claims and runs jobs until stopped; runs in a thread of `serve` or its own process."""

    def __init__(self, queue: JobQueue, runner: JobRunner, poll_s: float = 1.0) -> None:
        self.queue = queue
        self.runner = runner
        self.poll_s = poll_s
        self.worker_id = new_worker_id()
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def run_forever(self) -> None:
        log.info("worker %s started", self.worker_id)
        while not self._stop.is_set():
            if not self.run_once():
                self._stop.wait(self.poll_s)

    def run_once(self) -> bool:
        """Claim and run one job; False when there was none."""
        job = self.queue.claim(self.worker_id)
        if job is None:
            return False
        log.info("job %d: attempt %d started", job.id, job.attempt)
        beating = threading.Event()
        heartbeat = threading.Thread(target=self._heartbeat, args=(job, beating), daemon=True)
        heartbeat.start()
        try:
            summary = self.runner.run(job)
        except Exception as exc:  # any failure of one job must not stop the worker
            beating.set()
            state = self.queue.fail(job, f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)}")
            log.error("job %d failed (%s): %s", job.id, state, exc)
        else:
            beating.set()
            self.queue.succeed(job, summary)
            log.info("job %d succeeded: %s", job.id, summary)
        heartbeat.join(timeout=5)
        return True

    def _heartbeat(self, job: ClaimedJob, done: threading.Event) -> None:
        interval = max(1.0, self.queue.lease.total_seconds() / 4)
        while not done.wait(interval):
            if not self.queue.heartbeat(job):
                log.warning("job %d: lease lost to another worker", job.id)
                return
