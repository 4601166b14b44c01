"""Fixtures that run the real node (`dicomnode serve` as a subprocess) on a free loopback port."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import func, select

from storage.db import Database
from storage.models import Instance, Job

DICOMNODE = [sys.executable, "-m", "dicomnode"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def need(tool: str) -> str:
    """The dcmtk tool ``tool`` on PATH, outside this Python environment.

    Why outside: pynetdicom 3.0.4 installs console scripts named ``storescu``, ``echoscu`` and
    ``storescp`` into the virtual environment, with other options and messages; with the environment
    first on PATH they shadow dcmtk's, and the tests are about what dcmtk (what a PACS runs) sees.
    """
    env_bin = Path(sys.prefix) / "bin"
    dirs = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d and Path(d).resolve() != env_bin.resolve()]
    path = shutil.which(tool, path=os.pathsep.join(dirs))
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{tool} is required in CI (.ci/run installs it)")
        pytest.skip(f"{tool} not installed (apt-get install dcmtk)")
    return path


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


@dataclass
class RunningNode:
    """A `dicomnode serve` subprocess and what the tests need to look inside it."""

    root: Path
    port: int
    config: Path
    extra: str = ""
    process: subprocess.Popen | None = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.root / "serve.log"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def start(self, wait: bool = True) -> RunningNode:
        handle = self.log.open("ab")
        self.process = subprocess.Popen([*DICOMNODE, "serve", "--config", str(self.config)], cwd=self.root,
                                        stdout=handle, stderr=subprocess.STDOUT)
        if wait and not wait_for(self._listening, timeout=30):
            self.stop()
            raise AssertionError(f"node did not start:\n{self.log.read_text()}")
        return self

    def _listening(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"node exited with {self.process.returncode}:\n{self.log.read_text()}")
        with socket.socket() as probe:
            probe.settimeout(0.2)
            return probe.connect_ex(("127.0.0.1", self.port)) == 0

    def kill(self) -> None:
        """kill -9: no clean-up of any kind, like a power cut for the process."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def db(self) -> Database:
        return Database(f"sqlite:///{self.data_dir / 'dicomnode.sqlite'}")

    def count(self, model: type, *where) -> int:  # type: ignore[no-untyped-def]
        database = self.db()
        try:
            with database.session() as session:
                return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)
        finally:
            database.dispose()

    def instance_rows(self) -> int:
        return self.count(Instance)

    def jobs(self) -> list[Job]:
        database = self.db()
        try:
            with database.session() as session:
                return list(session.scalars(select(Job).order_by(Job.id)).all())
        finally:
            database.dispose()

    def files(self) -> list[Path]:
        return sorted((self.data_dir / "instances").rglob("*.dcm"))

    def storescu(self, files: list[Path], aet: str = "STORESCU", check: bool = True,
                 *args: str) -> subprocess.CompletedProcess[str]:
        command = [need("storescu"), "-aet", aet, "-aec", "DICOMNODE", *args, "127.0.0.1", str(self.port),
                   *map(str, files)]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if check:
            assert result.returncode == 0, result.stdout + result.stderr
        return result


def write_config(root: Path, port: int, extra: str = "") -> Path:
    """A config with short timings so tests wait seconds, not minutes. ``extra`` adds/overrides sections."""
    sections = {
        "node": f"port = {port}\nbind_address = \"127.0.0.1\"",
        "storage": "data_dir = \"data\"\nmin_free_disk_mb = 1",
        "series": "quiet_period_s = 2.0\ntick_interval_s = 0.25\nhard_cap_s = 600",
        "pipeline": "workers = 0",
    }
    current = None
    additions: dict[str, list[str]] = {}
    tail: list[str] = []  # arrays of tables ([[routing.rules]], [[destinations]]) go last, verbatim
    for line in extra.strip().splitlines():
        stripped = line.strip()
        if stripped.startswith("[["):
            current = "[["
            tail.append(stripped)
        elif stripped.startswith("["):
            current = stripped.strip("[]")
            additions.setdefault(current, [])
        elif current == "[[":
            tail.append(stripped)
        elif current is not None:
            additions[current].append(stripped)
    text = []
    for name, body in sections.items():
        keys = {line.split("=")[0].strip() for line in additions.get(name, []) if "=" in line}
        kept = [line for line in body.splitlines() if line.split("=")[0].strip() not in keys]
        text.append(f"[{name}]\n" + "\n".join(kept + additions.pop(name, [])))
    for name, lines in additions.items():
        text.append(f"[{name}]\n" + "\n".join(lines))
    path = root / "config.toml"
    path.write_text("\n\n".join(text) + "\n\n" + "\n".join(tail) + "\n")
    return path


@pytest.fixture
def node_factory(tmp_path: Path) -> Iterator[Callable[..., RunningNode]]:
    started: list[RunningNode] = []

    def make(extra: str = "", start: bool = True) -> RunningNode:
        root = tmp_path / f"node{len(started)}"
        root.mkdir()
        port = free_port()
        node = RunningNode(root, port, write_config(root, port, extra), extra)
        started.append(node)
        return node.start() if start else node

    yield make
    for node in started:
        node.stop()


@pytest.fixture
def node(node_factory: Callable[..., RunningNode]) -> RunningNode:
    return node_factory()


def send_datasets(port: int, datasets: list, calling: str = "STORESCU") -> list[int]:  # type: ignore[type-arg]
    """C-STORE each dataset over one real association (pynetdicom SCU); returns the status codes.

    Used where a test needs the exact status (dcmtk's storescu reports it only in verbose text)."""
    from pynetdicom import AE, ALL_TRANSFER_SYNTAXES

    ae = AE(ae_title=calling)
    for dataset in datasets:
        ae.add_requested_context(dataset.SOPClassUID, ALL_TRANSFER_SYNTAXES[:3])
    association = ae.associate("127.0.0.1", port, ae_title="DICOMNODE")
    assert association.is_established, "association was not accepted"
    try:
        return [int(association.send_c_store(dataset).Status) for dataset in datasets]
    finally:
        association.release()
