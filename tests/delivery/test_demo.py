"""`dicomnode demo` runs the whole loop for a newcomer and shows where the results are."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_demo_brings_seg_sr_and_pictures_back_and_prints_the_table(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "dicomnode", "demo", "--workdir", str(tmp_path / "demo")]
    env = {"COLUMNS": "160", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    received = {p.name.split("-", 1)[0] for p in (tmp_path / "demo" / "pacs").iterdir()}
    assert {"SEG", "SR", "OT"} <= received
    assert "Findings per disc level" in result.stdout
    assert "not for primary diagnosis" in result.stdout
    assert "SEG-" in result.stdout and "findings.json" in result.stdout
    assert sorted((tmp_path / "demo" / "node-data" / "outbox").rglob("findings.json"))
