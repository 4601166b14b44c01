"""The file store: every received instance as one DICOM file under the data directory.

Two promises live here. First, durability: a file is written to a temporary name, fsynced, renamed into
place and its folder fsynced, so once :meth:`FileStore.commit` returns the bytes survive a crash or a
power cut. Second, containment: paths are built only from UIDs that passed :func:`check_uid`, so a
hostile UID such as ``../../x`` can never place a file outside the data directory.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

_UID = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")


class InvalidUID(ValueError):
    """A UID that is not a valid DICOM UID (PS3.5 section 9.1) and so may not name a file."""


def check_uid(value: object, what: str) -> str:
    """Return ``value`` as a UID string, or raise :class:`InvalidUID` saying why (PS3.5 9.1).

    A UID is at most 64 characters of digit components separated by dots, without leading zeros. The
    leading-zero rule is relaxed to a warning by many archives; we refuse only what could be unsafe as a
    path or overflow a column (non-digits, empty components, over 64 characters).
    """
    text = str(value or "").strip().rstrip("\x00")
    if not text:
        raise InvalidUID(f"{what} is missing")
    if len(text) > 64:
        raise InvalidUID(f"{what} is longer than 64 characters")
    if not re.fullmatch(r"[0-9]+(\.[0-9]+)*", text):
        raise InvalidUID(f"{what} contains characters other than digits and single dots")
    return text


def is_strictly_valid_uid(value: str) -> bool:
    """True when ``value`` also respects the no-leading-zero rule (for warnings in logs)."""
    return bool(_UID.match(value))


def fsync_directory(path: Path) -> None:
    """Make a rename or unlink in ``path`` durable (POSIX needs the folder itself synced)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class StoredFile:
    relative_path: str
    size: int
    sha256: str


class FileStore:
    """Folders under one data directory: ``incoming/`` (temporary), ``instances/``, ``quarantine/``,
    ``outbox/``. All on one filesystem, so a rename is atomic."""

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir.resolve()
        self.incoming = self.root / "incoming"
        self.instances = self.root / "instances"
        self.quarantine = self.root / "quarantine"
        self.outbox = self.root / "outbox"

    def prepare(self) -> None:
        """Create the folders and prove the directory is writable (an unwritable dir stops the node)."""
        for folder in (self.root, self.incoming, self.instances, self.quarantine, self.outbox):
            folder.mkdir(parents=True, exist_ok=True)
        probe = self.incoming / f".probe-{uuid.uuid4().hex}"
        probe.write_bytes(b"ok")
        probe.unlink()
        # Temporary files of an earlier run were never acknowledged; they can go.
        for leftover in self.incoming.iterdir():
            if leftover.is_file():
                leftover.unlink(missing_ok=True)

    def free_bytes(self) -> int:
        return shutil.disk_usage(self.root).free

    def instance_path(self, study_uid: str, series_uid: str, sop_uid: str) -> Path:
        """Where an instance lives; every part is re-checked here, whatever the caller did."""
        parts = (
            check_uid(study_uid, "StudyInstanceUID"),
            check_uid(series_uid, "SeriesInstanceUID"),
            check_uid(sop_uid, "SOPInstanceUID") + ".dcm",
        )
        path = self.instances.joinpath(*parts)
        if not path.resolve().is_relative_to(self.instances):
            raise InvalidUID("instance path escapes the data directory")
        return path

    def relative(self, path: Path) -> str:
        return path.resolve().relative_to(self.root).as_posix()

    def absolute(self, relative_path: str) -> Path:
        path = (self.root / relative_path).resolve()
        if not path.is_relative_to(self.root):
            raise ValueError("stored path escapes the data directory")
        return path

    def commit(self, source: Path, destination: Path, sha256: str | None = None) -> StoredFile:
        """Durably move ``source`` (a finished temporary file) to ``destination``.

        The source is fsynced before the rename and both folders after it. If ``source`` is on another
        filesystem, it is first copied into ``incoming/`` so the final step is still an atomic rename.
        ``sha256`` is the content digest when the caller already computed it (the file is then read once).
        """
        destination.parent.mkdir(parents=True, exist_ok=True)
        if source.parent.resolve() != self.incoming:
            staged = self.incoming / f"{uuid.uuid4().hex}.part"
            shutil.copyfile(source, staged)
            source = staged
        with source.open("rb+") as handle:
            os.fsync(handle.fileno())
        digest = sha256 or sha256_of(source)
        size = source.stat().st_size
        os.replace(source, destination)
        fsync_directory(destination.parent)
        fsync_directory(self.incoming)
        return StoredFile(self.relative(destination), size, digest)

    def set_aside(self, source: Path, reason: str) -> Path:
        """Keep a refused or conflicting file for inspection, named by time and a random id only."""
        folder = self.quarantine / reason
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{uuid.uuid4().hex}.dcm"
        shutil.copyfile(source, target)
        with target.open("rb+") as handle:
            os.fsync(handle.fileno())
        fsync_directory(folder)
        return target
