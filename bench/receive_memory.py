"""Peak memory of the node while it receives large objects: proof that pixel data streams to disk.

    python bench/receive_memory.py [--megabytes 400] [--max-pdu 16382]

Starts `dicomnode serve` (no analysis workers), sends one MR object of the given size with dcmtk's
storescu, and reads the node's peak resident memory (VmHWM) before and after. The reference measured
in the same run is the object's own size: a node that decoded or buffered the dataset in memory would
grow by at least that much; one that streams grows by a small fraction of it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from pydicom import dcmread

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.node.conftest import RunningNode, free_port, write_config
from tests.node.factory import make_series


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--megabytes", type=int, default=400)
    parser.add_argument("--max-pdu", type=int, default=16382, help="the node's node.max_pdu (0 = unlimited)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        [path] = make_series(root / "big", 1)
        dataset = dcmread(path)
        side = int(np.sqrt(args.megabytes * 2**20 / 2))
        dataset.Rows = dataset.Columns = side
        dataset.PixelData = np.zeros((side, side), dtype=np.uint16).tobytes()
        dataset.save_as(path)
        size_mb = path.stat().st_size / 2**20
        node_root = root / "node"
        node_root.mkdir()
        port = free_port()
        node = RunningNode(node_root, port, write_config(node_root, port, f"[node]\nmax_pdu = {args.max_pdu}"))
        node.start()
        try:
            assert node.process is not None
            before = peak_rss_mb(node.process.pid)
            started = time.monotonic()
            node.storescu([path])
            seconds = time.monotonic() - started
            after = peak_rss_mb(node.process.pid)
        finally:
            node.stop()
    growth = after - before
    print(f"{'object (MB)':>12} {'node peak before':>17} {'node peak after':>16} {'growth':>8} {'seconds':>8}")
    print(f"{size_mb:>12.0f} {before:>17.0f} {after:>16.0f} {growth:>8.0f} {seconds:>8.1f}")
    print(f"growth / object size = {growth / size_mb:.3f} (1.0 or more would mean the object was held in memory)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
