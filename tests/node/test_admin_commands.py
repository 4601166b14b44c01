"""The admin's commands on a node that has received data: status, jobs, retry, db upgrade."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from storage.models import Job, JobState
from tests.node.conftest import RunningNode, wait_for
from tests.node.factory import make_series


def _cli(node: RunningNode, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dicomnode", *args, "--config", str(node.config)],
                          capture_output=True, text=True, timeout=60, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})


def test_status_jobs_and_retry_show_and_change_the_node_state(node: RunningNode, tmp_path: Path) -> None:
    node.storescu(make_series(tmp_path / "s", 6))
    assert wait_for(lambda: len(node.jobs()) == 1, timeout=20)
    status = _cli(node, "status")
    assert status.returncode == 0, status.stderr
    assert "instances stored" in status.stdout and "jobs queued" in status.stdout
    queued_row = next(line for line in status.stdout.splitlines() if "jobs queued" in line)
    assert queued_row.rstrip(" │").endswith(" 1")
    db = node.db()
    with db.session() as session:
        job = session.query(Job).one()
        job.state, job.attempts, job.error = JobState.dead, 3, "RuntimeError: boom\ntraceback..."
    db.dispose()
    listed = _cli(node, "jobs", "--state", "dead")
    assert listed.returncode == 0 and "dead" in listed.stdout and "RuntimeError: boom" in listed.stdout
    assert _cli(node, "retry", str(job.id)).returncode == 0
    assert node.jobs()[0].state == JobState.queued
    again = _cli(node, "retry", str(job.id))
    assert again.returncode == 1 and "not dead/failed" in again.stderr
    assert _cli(node, "db", "upgrade").returncode == 0
