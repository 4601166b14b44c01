"""The crash scenario, shared by the test (one round) and `tests/stress/crash_loop.py` (many rounds).

storescu sends 100 instances; once it has seen some acknowledged, the node is killed with SIGKILL.
The node restarts, the sender resends everything, and then: every instance storescu saw acknowledged
is on disk (bytes intact) and in the database, and the series gets exactly one job.
"""

from __future__ import annotations

import random
import signal
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from pydicom import dcmread

from storage.filestore import sha256_of
from storage.models import Instance
from tests.node.conftest import RunningNode, need, wait_for
from tests.node.factory import make_series


@dataclass
class CrashRound:
    acknowledged_before_kill: int
    rows_after: int
    files_after: int
    jobs: int


def storescu_until_killed(node: RunningNode, files: list[Path], kill_after: int) -> set[str]:
    """Send with `storescu -v`, kill -9 the node after ``kill_after`` successes; return the file names
    whose store response storescu saw as Success."""
    command = [need("storescu"), "-v", "-aet", "STORESCU", "-aec", "DICOMNODE", "127.0.0.1", str(node.port),
               *map(str, files)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    acknowledged: set[str] = set()
    current: str | None = None
    killed = False
    assert process.stdout is not None
    for line in process.stdout:
        if "Sending file:" in line:
            current = line.split("Sending file:", 1)[1].strip()
        elif "Received Store Response (Success)" in line and current is not None:
            acknowledged.add(current)
            if not killed and len(acknowledged) >= kill_after:
                assert node.process is not None
                node.process.send_signal(signal.SIGKILL)
                killed = True
    process.wait(timeout=60)
    if not killed:  # storescu finished before the threshold; still kill to test restart
        node.kill()
    node.process.wait(timeout=10)  # type: ignore[union-attr]
    return acknowledged


def crash_round(node: RunningNode, folder: Path, seed: int) -> CrashRound:
    files = make_series(folder, 100, size=128)
    kill_after = random.Random(seed).randint(5, 90)
    acknowledged = storescu_until_killed(node, files, kill_after)
    node.start()
    node.storescu(files)  # the sender resends everything (what failed and, being cautious, the rest)
    assert wait_for(lambda: len(node.jobs()) >= 1, timeout=30), node.log.read_text()
    threading.Event().wait(node_quiet_period(node) + 1.0)
    database = node.db()
    with database.session() as session:
        rows = {i.sop_instance_uid: i for i in session.query(Instance).all()}
    database.dispose()
    for name in acknowledged:
        uid = dcmread(name, stop_before_pixels=True).SOPInstanceUID
        assert uid in rows, f"acknowledged {name} is not in the database"
        stored = node.data_dir / rows[uid].path
        assert stored.is_file() and sha256_of(stored) == rows[uid].sha256
    return CrashRound(len(acknowledged), len(rows), len(node.files()), len(node.jobs()))


def node_quiet_period(node: RunningNode) -> float:
    import tomllib

    return float(tomllib.loads(node.config.read_text())["series"]["quiet_period_s"])
