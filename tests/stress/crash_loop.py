"""Run the kill -9 crash scenario many times: `python -m tests.stress.crash_loop --rounds 20`.

Each round starts a fresh node, kills it at a random point while storescu sends 100 instances,
restarts it and resends; it prints one line per round and a summary, and exits non-zero on any loss.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from tests.node.conftest import RunningNode, free_port, write_config
from tests.node.crash import crash_round


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    failures = 0
    header = ("round", "acked before kill", "rows", "files", "jobs", "seconds")
    print(" ".join(f"{h:>{w}}" for h, w in zip(header, (5, 18, 5, 5, 4, 7), strict=True)) + "  result")
    for seed in range(args.rounds):
        started = time.monotonic()
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder) / "node"
            root.mkdir()
            port = free_port()
            node = RunningNode(root, port, write_config(root, port, "[series]\nquiet_period_s = 6.0"))
            node.start()
            try:
                result = crash_round(node, Path(folder) / "series", seed)
                ok = result.rows_after == 100 and result.files_after == 100 and result.jobs == 1
            except AssertionError as exc:
                ok, result = False, None
                print(f"round {seed}: {exc}", file=sys.stderr)
            finally:
                node.stop()
        failures += not ok
        if result is not None:
            print(f"{seed:>5} {result.acknowledged_before_kill:>18} {result.rows_after:>5} "
                  f"{result.files_after:>5} {result.jobs:>4} {time.monotonic() - started:>7.1f}  "
                  f"{'ok' if ok else 'FAILED'}")
    print(f"{args.rounds - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
