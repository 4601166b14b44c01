"""`dicomnode demo`: the whole loop on one machine, for a newcomer, in one command.

It starts a small receiving PACS (a storage SCP that files what it gets, like dcmtk's storescp), starts
the node with that PACS as its destination, makes a phantom lumbar series, sends it over C-STORE,
waits for the SEG, SR and pictures to come back, and returns what it found. Everything runs on
loopback on free ports, in a work folder the user can open afterwards.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import AE, AllStoragePresentationContexts, evt

from dicomnode.config import Destination, Settings

DEMO_PACS_AET = "DEMO_PACS"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class DemoPacs:
    """The receiving end: files every instance it is sent under ``folder`` by modality."""

    folder: Path
    port: int = field(default_factory=_free_port)
    received: list[Path] = field(default_factory=list)

    def start(self) -> DemoPacs:
        self.folder.mkdir(parents=True, exist_ok=True)
        ae = AE(ae_title=DEMO_PACS_AET)
        ae.supported_contexts = AllStoragePresentationContexts
        self._server = ae.start_server(("127.0.0.1", self.port), block=False,
                                       evt_handlers=[(evt.EVT_C_STORE, self._store)])
        return self

    def _store(self, event: evt.Event) -> int:
        dataset = event.dataset
        dataset.file_meta = event.file_meta
        path = self.folder / f"{dataset.Modality}-{dataset.SOPInstanceUID}.dcm"
        dataset.save_as(path, enforce_file_format=True)
        self.received.append(path)
        return 0x0000

    def modalities(self) -> set[str]:
        return {path.name.split("-", 1)[0] for path in self.received}

    def stop(self) -> None:
        self._server.shutdown()


def demo_settings(workdir: Path, pacs: DemoPacs) -> Settings:
    settings = Settings()
    settings.node.port = _free_port()
    settings.node.bind_address = "127.0.0.1"
    settings.security.allowed_calling_ae_titles = [DEMO_PACS_AET]
    settings.storage.data_dir = workdir / "node-data"
    settings.storage.min_free_disk_mb = 10
    settings.series.quiet_period_s = 3.0
    settings.series.tick_interval_s = 0.5
    settings.destinations = [Destination(name="demo-pacs", ae_title=DEMO_PACS_AET, host="127.0.0.1",
                                         port=pacs.port, outputs=["seg", "sr", "picture"])]
    return settings


def send_series(datasets: list[Dataset], port: int, called: str) -> None:
    ae = AE(ae_title=DEMO_PACS_AET)
    for sop_class in {str(ds.SOPClassUID) for ds in datasets}:
        ae.add_requested_context(sop_class)
    association = ae.associate("127.0.0.1", port, ae_title=called)
    if not association.is_established:
        raise RuntimeError("the node refused the demo association")
    try:
        for dataset in datasets:
            status = association.send_c_store(dataset)
            if int(status.Status) != 0:
                raise RuntimeError(f"the node answered 0x{int(status.Status):04X}")
    finally:
        association.release()


@dataclass
class DemoResult:
    workdir: Path
    received: list[Path]
    findings: dict[str, Any]
    seconds: float


def run_demo(workdir: Path, seed: int = 7, timeout_s: float = 600.0,
             progress: Any = None) -> DemoResult:
    """Run the loop; ``progress(message)`` is called at each step (the CLI shows it)."""
    from dicomnode.phantom_dicom import series_datasets
    from dicomnode.service import Node
    from pipeline.phantom import generate

    say = progress or (lambda message: None)
    started = time.monotonic()
    pacs = DemoPacs(workdir / "pacs").start()
    node = Node(demo_settings(workdir, pacs))
    try:
        say("starting the node (loading the model)")
        node.start()
        say(f"making a phantom lumbar T2 series (seed {seed})")
        datasets = series_datasets(generate(seed, region="lumbar", contrast="T2"))
        say(f"sending {len(datasets)} images to the node over C-STORE")
        send_series(datasets, node.settings.node.port, node.settings.node.ae_title)
        say("waiting for the series to complete, the analysis, and the results to come back")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if {"SEG", "SR", "OT"} <= pacs.modalities() or {"SEG", "SR", "MR"} <= pacs.modalities():
                break
            if _job_dead(node):
                raise RuntimeError("the analysis job failed; see `dicomnode jobs` in the work folder")
            threading.Event().wait(0.5)
        else:
            raise TimeoutError(f"no results after {timeout_s:.0f} s")
        threading.Event().wait(1.0)  # let the last pictures of the batch land
        findings_files = sorted((workdir / "node-data" / "outbox").rglob("findings.json"))
        findings = json.loads(findings_files[-1].read_text()) if findings_files else {}
        return DemoResult(workdir, list(pacs.received), findings, time.monotonic() - started)
    finally:
        node.stop()
        pacs.stop()


def _job_dead(node: Any) -> bool:
    from storage.models import Job, JobState

    with node.db.session() as session:
        return session.query(Job).filter(Job.state == JobState.dead).count() > 0
