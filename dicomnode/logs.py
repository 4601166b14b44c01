"""Logging set-up. Default logs carry no patient names, IDs, birth dates or accession numbers.

Our own messages never format identifying tags. pynetdicom, at DEBUG, dumps whole datasets; its
logger is therefore held at WARNING unless the admin sets ``logging.log_patient_identifiers``.
"""

from __future__ import annotations

import logging
import sys

from dicomnode.config import LoggingSettings


def configure_logging(settings: LoggingSettings) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if settings.file is not None:
        settings.file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(settings.file, encoding="utf-8"))
    logging.basicConfig(level=settings.level, handlers=handlers, force=True,
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    quiet = logging.DEBUG if settings.log_patient_identifiers else logging.WARNING
    logging.getLogger("pynetdicom").setLevel(quiet)
    for name in ("apscheduler", "alembic", "sqlalchemy"):
        logging.getLogger(name).setLevel(logging.WARNING)
