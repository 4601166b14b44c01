"""`dicomnode serve` and `dicomnode worker`."""

from __future__ import annotations

from dicomnode.commands.common import ConfigOption, fail, settings_or_exit
from dicomnode.config import ConfigError
from dicomnode.logs import configure_logging


def serve(config: ConfigOption = None) -> None:
    """Run the node: receive over DICOM, queue complete series, analyse, send results."""
    from dicomnode.service import Node

    settings = settings_or_exit(config)
    configure_logging(settings.logging)
    node = Node(settings)
    try:
        node.serve_forever()
    except ConfigError as exc:
        node.stop()
        raise fail(str(exc), 2) from None


def worker(config: ConfigOption = None) -> None:
    """Run an analysis worker only (scale-out: several processes or machines share one PostgreSQL queue)."""
    import signal
    import threading

    from dicomnode.service import load_analysis, make_queue, open_storage
    from dicomnode.worker import JobRunner, Worker

    settings = settings_or_exit(config)
    configure_logging(settings.logging)
    try:
        db, store = open_storage(settings)
        analyse, _ = load_analysis(settings)
    except ConfigError as exc:
        raise fail(str(exc), 2) from None
    loop = Worker(make_queue(settings, db), JobRunner(settings, db, store, analyse))
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: loop.stop())
    thread = threading.Thread(target=loop.run_forever, name="worker")
    thread.start()
    while thread.is_alive():
        thread.join(timeout=1.0)
