"""Delivery: C-STORE our outputs to each destination, with retries, backoff and a dead letter.

Each destination has its own thread, so a PACS that is down or hangs holds up nobody else. Each
association proposes exactly the SOP class and transfer syntax of each file it carries (no conversion,
no surprise). An association that cannot be opened or breaks is retried with exponential backoff; a
failure status from the peer (a rejection) is retried a few times only, then the delivery is dead and
shown by `dicomnode status` until `dicomnode retry --delivery ID`.
"""

from __future__ import annotations

import logging
import ssl
import threading

from pydicom import dcmread
from pynetdicom import AE

from dicomnode.config import Destination, Settings
from storage.db import Database
from storage.filestore import FileStore
from storage.outbox import DueDelivery, Outbox

log = logging.getLogger("dicomnode.send")

SUCCESS_OR_WARNING = {0x0000, 0x0001, 0x0107, 0x0116, 0xB000, 0xB006, 0xB007}


def make_outbox(settings: Settings, db: Database) -> Outbox:
    d = settings.delivery
    return Outbox(db, max_attempts=d.max_attempts, rejected_max_attempts=d.rejected_max_attempts,
                  backoff_initial_s=d.backoff_initial_s, backoff_max_s=d.backoff_max_s,
                  lease_s=max(60.0, 4 * d.timeout_s))


class DestinationSender:
    """Sends the due deliveries of one destination, one association per batch."""

    def __init__(self, settings: Settings, destination: Destination, outbox: Outbox, store: FileStore) -> None:
        self.settings = settings
        self.destination = destination
        self.outbox = outbox
        self.store = store

    def send_due(self) -> int:
        """One pass: returns how many deliveries were attempted."""
        due = self.outbox.claim_due(self.destination.name)
        if not due:
            return 0
        ae = AE(ae_title=self.destination.calling_ae_title or self.settings.node.ae_title)
        timeout = self.settings.delivery.timeout_s
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout
        for sop_class, syntax in sorted({(d.sop_class_uid, d.transfer_syntax_uid) for d in due}):
            ae.add_requested_context(sop_class, [syntax])
        dest = self.destination
        tls = (ssl.create_default_context(), dest.host) if dest.tls else None
        try:
            association = ae.associate(dest.host, dest.port, ae_title=dest.ae_title, tls_args=tls)
        except Exception as exc:  # DNS failure, TLS error: the same as a refused association
            association, reason = None, f"association failed: {exc}"
        else:
            reason = "association rejected or aborted" if not association.is_established else ""
        if association is None or not association.is_established:
            for delivery in due:
                self.outbox.failed(delivery.id, f"{dest.name}: {reason or 'no association'}")
            log.warning("destination %s unreachable (%s); %d object(s) will be retried", dest.name,
                        reason, len(due))
            return len(due)
        try:
            for index, delivery in enumerate(due):
                if not association.is_established:
                    for rest in due[index:]:
                        self.outbox.failed(rest.id, f"{dest.name}: association ended early")
                    break
                self._send_one(association, delivery)
        finally:
            if association.is_established:
                association.release()
        return len(due)

    def _send_one(self, association, delivery: DueDelivery) -> None:  # type: ignore[no-untyped-def]
        try:
            dataset = dcmread(self.store.absolute(delivery.path))
            status = association.send_c_store(dataset)
        except Exception as exc:
            self.outbox.failed(delivery.id, f"could not send: {exc}")
            return
        code = int(status.Status) if "Status" in status else None
        if code is None:  # no response: timeout or abort
            self.outbox.failed(delivery.id, "no C-STORE response (timeout or abort)")
        elif code in SUCCESS_OR_WARNING:
            self.outbox.sent(delivery.id, code)
        else:
            comment = str(status.get("ErrorComment", ""))
            state = self.outbox.failed(delivery.id, f"peer answered 0x{code:04X} {comment}".strip(), status=code)
            log.warning("destination %s refused an object with 0x%04X (%s)", self.destination.name, code, state)


class Sender:
    """One thread per destination, each polling its part of the outbox."""

    def __init__(self, settings: Settings, db: Database, store: FileStore, poll_s: float = 1.0) -> None:
        outbox = make_outbox(settings, db)
        self.senders = [DestinationSender(settings, d, outbox, store) for d in settings.destinations]
        self.poll_s = poll_s
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for sender in self.senders:
            thread = threading.Thread(target=self._loop, args=(sender,), daemon=True,
                                      name=f"send-{sender.destination.name}")
            thread.start()
            self._threads.append(thread)

    def _loop(self, sender: DestinationSender) -> None:
        while not self._stop.is_set():
            try:
                busy = sender.send_due()
            except Exception:  # the loop must survive anything one pass throws
                log.exception("delivery pass to %s failed", sender.destination.name)
                busy = 0
            if not busy:
                self._stop.wait(self.poll_s)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
