"""The DICOM receiver (SCP): C-ECHO and C-STORE, thin over storage.

A C-STORE success is sent only after the file is fsynced in its final place and its row committed, so
an acknowledged instance survives a crash. pynetdicom's chunked receive writes each incoming dataset
straight to a temporary file in our ``incoming/`` folder (never decoded in memory), and that file is
renamed into the store: large Enhanced MR objects cost disk, not RAM.
"""

from __future__ import annotations

import logging
import ssl
import tempfile
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, _config, evt
from pynetdicom.sop_class import EnhancedMRImageStorage, MRImageStorage, Verification
from sqlalchemy.exc import IntegrityError

from dicomnode.config import Settings
from dicomnode.headers import (
    STATUS_OUT_OF_RESOURCES,
    STATUS_STORAGE_FAILURE,
    STATUS_SUCCESS,
    RefusedInstance,
    read_header,
)
from storage.db import Database
from storage.events import record_event
from storage.filestore import FileStore, sha256_of
from storage.instances import LateArrival, lookup_instance, record_instance

log = logging.getLogger("dicomnode.receive")

ANALYSED_SOP_CLASSES = (MRImageStorage, EnhancedMRImageStorage)
_DENIED = "\x00host-not-allowed"


class _GuardedAE(AE):
    """An AE whose calling-AE whitelist also enforces the host whitelist.

    pynetdicom checks ``require_calling_aet`` while negotiating, in the association's own thread, and
    rejects with "calling AE title not recognised" (PS3.8 9.3.4: the closest standard reason; there is
    none for hosts). Answering per thread lets one check cover both, with a real A-ASSOCIATE-RJ.
    """

    allowed_hosts: frozenset[str] = frozenset()
    allowed_titles: tuple[str, ...] = ()

    @property  # type: ignore[override]
    def require_calling_aet(self) -> list[str]:
        association = threading.current_thread()
        address = getattr(getattr(association, "requestor", None), "address", None)
        if self.allowed_hosts and address is not None and address not in self.allowed_hosts:
            log.warning("association from host %s refused: host not in security.allowed_hosts", address)
            return [_DENIED]
        return list(self.allowed_titles)

    @require_calling_aet.setter
    def require_calling_aet(self, titles: list[str]) -> None:
        self.allowed_titles = tuple(titles)


class Receiver:
    """Owns the SCP: its AE, its handlers and the per-association bookkeeping."""

    def __init__(self, settings: Settings, db: Database, store: FileStore) -> None:
        self.settings = settings
        self.db = db
        self.store = store
        self._server: Any = None
        self._counts: dict[int, Counter[str]] = {}
        self._lock = threading.Lock()

    # -- set-up --------------------------------------------------------------------------------
    def build_ae(self) -> AE:
        node, security = self.settings.node, self.settings.security
        ae = _GuardedAE(ae_title=node.ae_title)
        ae.allowed_hosts = frozenset(security.allowed_hosts)
        ae.require_calling_aet = [] if security.any_calling_ae else security.allowed_calling_ae_titles
        ae.maximum_associations = node.max_associations
        ae.maximum_pdu_size = node.max_pdu
        ae.network_timeout = node.network_timeout_s
        ae.acse_timeout = node.network_timeout_s
        ae.dimse_timeout = node.network_timeout_s
        ae.add_supported_context(Verification)
        if node.accept_other_storage:
            for context in AllStoragePresentationContexts:
                ae.add_supported_context(context.abstract_syntax, ALL_TRANSFER_SYNTAXES)
        else:
            for sop_class in ANALYSED_SOP_CLASSES:
                ae.add_supported_context(sop_class, ALL_TRANSFER_SYNTAXES)
        return ae

    def ssl_context(self) -> ssl.SSLContext | None:
        security = self.settings.security
        if security.tls_certificate is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(security.tls_certificate), str(security.tls_key))
        if security.tls_ca is not None:
            context.load_verify_locations(str(security.tls_ca))
            context.verify_mode = ssl.CERT_REQUIRED
        return context

    def start(self) -> None:
        """Start listening in background threads (returns at once)."""
        # Received datasets go to a temporary file in incoming/, on the store's filesystem.
        _config.STORE_RECV_CHUNKED_DATASET = True
        tempfile.tempdir = str(self.store.incoming)
        handlers = [
            (evt.EVT_C_ECHO, self.handle_echo),
            (evt.EVT_C_STORE, self.handle_store),
            (evt.EVT_ACCEPTED, self._on_accepted),
            (evt.EVT_RELEASED, self._on_closed),
            (evt.EVT_ABORTED, self._on_closed),
            (evt.EVT_REJECTED, self._on_rejected),
        ]
        node = self.settings.node
        self._server = self.build_ae().start_server(
            (node.bind_address, node.port), block=False, evt_handlers=handlers, ssl_context=self.ssl_context()
        )
        log.info("listening as %s on %s:%d", node.ae_title, node.bind_address, node.port)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    # -- association bookkeeping ------------------------------------------------------------------
    def _on_accepted(self, event: evt.Event) -> None:
        requestor = event.assoc.requestor
        with self._lock:
            self._counts[id(event.assoc)] = Counter()
        log.info("association from %s (%s) accepted", requestor.ae_title, requestor.address)

    def _on_rejected(self, event: evt.Event) -> None:
        requestor = event.assoc.requestor
        log.warning("association from %s (%s) rejected", requestor.ae_title, requestor.address)
        with self.db.session() as session:
            record_event(session, "association_rejected", f"calling AE {requestor.ae_title!r}")

    def _on_closed(self, event: evt.Event) -> None:
        with self._lock:
            counts = self._counts.pop(id(event.assoc), Counter())
        how = "aborted" if event.event is evt.EVT_ABORTED else "released"
        summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "nothing stored"
        log.info("association from %s %s: %s", event.assoc.requestor.ae_title, how, summary)

    def _count(self, event: evt.Event, what: str) -> None:
        with self._lock:
            self._counts.setdefault(id(event.assoc), Counter())[what] += 1

    # -- services ----------------------------------------------------------------------------------
    def handle_echo(self, event: evt.Event) -> int:
        return STATUS_SUCCESS

    def handle_store(self, event: evt.Event) -> int | Dataset:
        """Store one instance durably, then acknowledge. Returns a precise status on every failure."""
        request = event.request
        calling = event.assoc.requestor.ae_title
        path = Path(event.dataset_path)
        if self.store.free_bytes() < self.settings.storage.min_free_disk_mb * 1024 * 1024:
            log.error("free disk below storage.min_free_disk_mb: refusing new instances")
            self._count(event, "refused (disk full)")
            return _status(STATUS_OUT_OF_RESOURCES, "free disk space below the node's minimum")
        try:
            header = read_header(path, str(request.AffectedSOPClassUID), str(request.AffectedSOPInstanceUID))
        except RefusedInstance as refused:
            kept = self.store.set_aside(path, refused.quarantine)
            log.warning("instance from %s refused (0x%04X %s); kept as %s", calling, refused.status,
                        refused.reason, kept.name)
            with self.db.session() as session:
                record_event(session, "instance_refused", f"0x{refused.status:04X} {refused.reason}")
            self._count(event, "refused")
            return _status(refused.status, refused.reason)
        try:
            return self._store(event, path, header, calling)
        except Exception:
            log.exception("could not store an instance from %s", calling)
            self._count(event, "failed")
            return _status(STATUS_STORAGE_FAILURE, "node could not store the instance")

    def _store(self, event: evt.Event, path: Path, header: Any, calling: str) -> int | Dataset:
        digest = sha256_of(path)
        with self.db.session() as session:
            existing = lookup_instance(session, header.sop_instance_uid)
            if existing is not None:
                return self._duplicate(event, session, existing, path, digest)
        destination = self.store.instance_path(header.study_uid, header.series_uid, header.sop_instance_uid)
        stored = self.store.commit(path, destination, sha256=digest)
        try:
            with self.db.session() as session:
                late = record_instance(session, header, stored, calling, self.settings.series.late_arrivals)
        except IntegrityError:
            # Another association stored the same SOP Instance UID a moment ago: same bytes, same file.
            self._count(event, "duplicates")
            return STATUS_SUCCESS
        if late is not LateArrival.none:
            log.info("late instance for a decided series (%s)", late.value)
        self._count(event, "stored")
        return STATUS_SUCCESS

    def _duplicate(self, event: evt.Event, session: Any, existing: Any, path: Path, digest: str) -> int:
        if existing.sha256 == digest:
            self._count(event, "duplicates")
            return STATUS_SUCCESS
        if self.settings.storage.duplicates == "replace":
            stored = self.store.commit(path, self.store.absolute(existing.path), sha256=digest)
            existing.sha256, existing.size = stored.sha256, stored.size
            record_event(session, "instance_replaced", "same SOP Instance UID, new content",
                         series_id=existing.series_id)
            self._count(event, "replaced")
            return STATUS_SUCCESS
        kept = self.store.set_aside(path, "conflicts")
        record_event(session, "instance_conflict", f"different content kept aside as {kept.name}",
                     series_id=existing.series_id)
        log.warning("same SOP Instance UID with different content; first copy kept, new one in %s",
                    kept.relative_to(self.store.root))
        self._count(event, "conflicts")
        return STATUS_SUCCESS


def _status(code: int, comment: str) -> Dataset:
    status = Dataset()
    status.Status = code
    status.ErrorComment = comment[:64]
    return status
