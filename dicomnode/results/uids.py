"""Deterministic DICOM UIDs for every output object, derived from the job key.

Why deterministic: a worker can crash after sending the SEG but before recording it; the retry must
send *the same* SOP Instance UIDs so the PACS stores the object once (a C-STORE of a known instance is
an overwrite or a no-op, never a duplicate). Random UIDs would leave two SEGs for one job.

A UID is the configured root, a dot, and decimal digits of a SHA-256 over (root, job key, role). The
rules of PS3.5 section 9.1 hold: only digits and dots, at most 64 characters, no component with a
leading zero. The root ``2.25`` is treated as the UUID-derived arc (PS3.5 B.2): the suffix is then a
128-bit integer, as that arc requires.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

MAX_UID_LENGTH = 64
UUID_ROOT = "2.25"
_COMPONENT = re.compile(r"^(0|[1-9][0-9]*)$")
_MIN_SUFFIX_DIGITS = 20
"""At least ~66 bits of hash, so two jobs colliding is negligible even for a long root."""


def validate_uid(uid: str) -> str:
    """Return ``uid`` when it is a valid DICOM UID (PS3.5 9.1), else raise ValueError saying why."""
    if not uid or len(uid) > MAX_UID_LENGTH:
        raise ValueError(f"a UID has 1..64 characters, got {len(uid)}: {uid!r}")
    for component in uid.split("."):
        if not _COMPONENT.match(component):
            raise ValueError(f"UID component {component!r} of {uid!r} is empty, non-numeric or has a leading 0")
    return uid


def validate_root(root: str) -> str:
    """Check a configured UID root leaves room for a hash suffix; the error names the setting."""
    root = root.strip().rstrip(".")
    try:
        validate_uid(root)
    except ValueError as exc:
        raise ValueError(f"uid_root {root!r} is not a valid UID prefix: {exc}") from exc
    if root != UUID_ROOT and len(root) + 1 + _MIN_SUFFIX_DIGITS > MAX_UID_LENGTH:
        raise ValueError(
            f"uid_root {root!r} is {len(root)} characters; keep it under "
            f"{MAX_UID_LENGTH - 1 - _MIN_SUFFIX_DIGITS} so derived UIDs stay unique"
        )
    return root


def derive_uid(root: str, job_key: str, role: str) -> str:
    """The UID of output ``role`` (e.g. ``"seg.instance"``) of job ``job_key`` under ``root``.

    Same inputs, same UID -- across processes, machines and releases (SHA-256, no salt, no clock).
    """
    if not job_key:
        raise ValueError("a job key is needed to derive output UIDs")
    if not role:
        raise ValueError("a role is needed to derive output UIDs")
    root = validate_root(root)
    digest = hashlib.sha256(f"{root}\x00{job_key}\x00{role}".encode()).digest()
    number = int.from_bytes(digest, "big")
    if root == UUID_ROOT:
        suffix = str(number >> 128)  # a 128-bit integer, as a UUID-derived UID requires
    else:
        room = MAX_UID_LENGTH - len(root) - 1
        suffix = str(number)[: min(room, 39)].lstrip("0") or "1"
    return validate_uid(f"{root}.{suffix}")


@dataclass(frozen=True)
class UidFactory:
    """All UIDs of one job: ``UidFactory(root, job_key).uid("sr.instance")``."""

    root: str
    job_key: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", validate_root(self.root))
        if not self.job_key:
            raise ValueError("a job key is needed to derive output UIDs")

    def uid(self, role: str) -> str:
        return derive_uid(self.root, self.job_key, role)
