"""`dicomnode serve`: the receiver, the scheduler tick, analysis workers and the sender in one process.

Start-up checks everything an admin can get wrong before opening the port (data dir writable, port
free, database reachable and migrated, model present and intact), and fails with one line naming the
cause. Work that was in flight when the node last stopped resumes: jobs of dead local workers are
re-queued at once, deliveries in ``sending`` are retried when their lease ends.
"""

from __future__ import annotations

import errno
import logging
import signal
import socket
import threading
from collections.abc import Callable
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from dicomnode.config import ConfigError, Settings
from dicomnode.receive import Receiver
from dicomnode.scheduler import Scheduler
from dicomnode.worker import JobRunner, Worker
from pipeline import PIPELINE_VERSION
from storage.db import Database
from storage.filestore import FileStore
from storage.queue import JobQueue

log = logging.getLogger("dicomnode.service")


class StartupError(ConfigError):
    """The node cannot start; the message is one line for the admin."""


def check_port_free(address: str, port: int) -> None:
    probe = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((address, port))
    except OSError as exc:
        reason = "already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
        raise StartupError(f"node.port: cannot listen on {address}:{port}: {reason}") from None
    finally:
        probe.close()


def open_storage(settings: Settings) -> tuple[Database, FileStore]:
    """Prepare the data dir and the database (migrated to the newest schema)."""
    store = FileStore(settings.storage.data_dir)
    try:
        store.prepare()
    except OSError as exc:
        raise StartupError(f"storage.data_dir: {settings.storage.data_dir} is not writable: "
                           f"{exc.strerror or exc}") from None
    db = Database(settings.storage.resolved_database_url())
    try:
        db.upgrade()
    except Exception as exc:
        raise StartupError(f"storage.database_url: cannot open or migrate the database: "
                           f"{str(exc).splitlines()[0]}") from None
    return db, store


def make_queue(settings: Settings, db: Database) -> JobQueue:
    p = settings.pipeline
    return JobQueue(db, lease_s=p.job_lease_s, max_attempts=p.max_attempts, backoff_s=p.retry_backoff_s)


def load_analysis(settings: Settings) -> tuple[Callable[..., Any], str]:
    """The analysis function with its model loaded once, and the pipeline version for job keys."""
    from pipeline.inference import ModelLoadError, load_model
    from pipeline.rib_net import load_rib_classifier
    from pipeline.spine import analyse_spine

    p = settings.pipeline
    try:
        model = load_model(p.model, p.model_sha256, device=p.device, half=p.half_precision)
    except (ModelLoadError, OSError, ValueError) as exc:
        raise StartupError(f"pipeline.model: {exc}") from None
    ribs = None
    if p.rib_evidence:
        try:
            ribs = load_rib_classifier(p.rib_model, p.rib_model_sha256)
        except (ModelLoadError, OSError, ValueError) as exc:
            raise StartupError(f"pipeline.rib_model: {exc}") from None
        if ribs is None and p.rib_model is not None:
            raise StartupError(f"pipeline.rib_model: {p.rib_model} does not exist")
    from dicomnode.config import grading_settings

    grading = grading_settings(settings.grading)
    # The job key carries the version, and result UIDs derive from the key: a setting that changes the
    # outputs must change the version too, or the same UIDs would name different objects.
    version = f"{PIPELINE_VERSION}+{model.sha256[:8]}" + ("" if p.fine_pass else "-nofine")
    version += f"-ribs{ribs.sha256[:8]}" if ribs is not None else ""

    def analyse(volume: Any, t1: Any = None) -> Any:
        """One series, with its T1 companion when the job has one (Modic typing)."""
        return analyse_spine(
            volume, model, grading=grading, t1=t1, fine_pass=p.fine_pass, rib_classifier=ribs,
            rib_evidence=p.rib_evidence,
        )

    return analyse, version


class Node:
    """The running service."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db: Database | None = None
        self.receiver: Receiver | None = None
        self.workers: list[Worker] = []
        self.threads: list[threading.Thread] = []
        self.scheduler: BackgroundScheduler | None = None
        self.sender: Any = None
        self._stopped = threading.Event()
        self._stop_requested = threading.Event()

    def start(self) -> None:
        settings = self.settings
        check_port_free(settings.node.bind_address, settings.node.port)
        self.db, store = open_storage(settings)
        queue = make_queue(settings, self.db)
        version = PIPELINE_VERSION
        analyse: Callable[..., Any] | None = None
        if settings.pipeline.workers > 0:
            analyse, version = load_analysis(settings)
        released = queue.release_dead_local_workers()
        if released:
            log.warning("%d job(s) of a previous run re-queued", released)
        tick = Scheduler(settings, self.db, queue, version)
        resumed = tick.resume_after_restart()
        if resumed:
            log.info("%d series were still receiving: their quiet period starts again now", resumed)
        self.receiver = Receiver(settings, self.db, store)
        self.receiver.start()
        self.scheduler = BackgroundScheduler(timezone="UTC")
        self.scheduler.add_job(self._safe(tick.tick), "interval", seconds=settings.series.tick_interval_s,
                               max_instances=1, coalesce=True, id="series-tick")
        self.scheduler.start()
        if settings.destinations:
            from dicomnode.send import Sender

            self.sender = Sender(settings, self.db, store)
            self.sender.start()
        if analyse is not None:
            runner = JobRunner(settings, self.db, store, analyse)
            for index in range(settings.pipeline.workers):
                worker = Worker(queue, runner)
                thread = threading.Thread(target=worker.run_forever, name=f"worker-{index}", daemon=True)
                self.workers.append(worker)
                self.threads.append(thread)
                thread.start()
        log.info("node %s ready (data dir %s, %d worker(s), pipeline %s)", settings.node.ae_title,
                 store.root, len(self.workers), version)

    @staticmethod
    def _safe(function: Callable[[], Any]) -> Callable[[], None]:
        def run() -> None:
            try:
                function()
            except Exception:  # a failing tick is logged and retried next tick, never fatal
                log.exception("periodic task failed")

        return run

    def stop(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        if self.receiver is not None:
            log.info("stopping")
        if self.receiver is not None:
            self.receiver.stop()
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
        if self.sender is not None:
            self.sender.stop()
        for worker in self.workers:
            worker.stop()
        for thread in self.threads:
            thread.join(timeout=30)
        if self.db is not None:
            self.db.dispose()

    def serve_forever(self) -> None:
        """Run until SIGINT/SIGTERM."""
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: self._stop_requested.set())
        self.start()
        try:
            while not self._stop_requested.wait(1.0):  # a timeout keeps the main thread responsive to signals
                pass
        finally:
            self.stop()
