"""kill -9 while storescu sends: nothing acknowledged is lost, and the series gets exactly one job."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.node.crash import crash_round

ROUNDS = int(os.environ.get("DICOMNODE_CRASH_ROUNDS", "1"))


@pytest.mark.parametrize("seed", range(ROUNDS))
def test_kill_9_during_storescu_loses_nothing_acknowledged_and_gives_one_job(node_factory, tmp_path: Path,
                                                                              seed: int) -> None:
    node = node_factory("[series]\nquiet_period_s = 6.0")
    result = crash_round(node, tmp_path / "series", seed)
    assert result.acknowledged_before_kill >= 1
    assert result.rows_after == 100 and result.files_after == 100
    assert result.jobs == 1
