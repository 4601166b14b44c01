"""A broken config.toml stops the node with one clear line naming the key or the cause."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from dicomnode.config import ConfigError, Settings, load_settings
from tests.node.conftest import free_port


def _serve(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    if "[node" not in text:  # a free port, so a check that comes after the port check is really reached
        text += f"\n[node]\nport = {free_port()}\nbind_address = \"127.0.0.1\"\n"
    config = tmp_path / "config.toml"
    config.write_text(text)
    return subprocess.run([sys.executable, "-m", "dicomnode", "serve", "--config", str(config)],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[series]\nquiet_periode_s = 3\n", "series.quiet_periode_s: unknown key"),
        ("[node]\nport = \"eleven\"\n", "node.port: Input should be a valid integer"),
        ("[series]\nquiet_period_s = -1\n", "series.quiet_period_s: Input should be greater than 0"),
        ("[series]\nlate_arrivals = \"sometimes\"\n", "series.late_arrivals: Input should be 'reprocess' or"),
        ("[series]\ncompanion_wait_s = -1\n", "series.companion_wait_s: Input should be greater than or equal to 0"),
        ("[series]\ncompanion_wait_s = 1000\n", "series: companion_wait_s must not be longer than hard_cap_s"),
        ("[node]\nae_title = \"WAY_TOO_LONG_AE_TITLE\"\n", "node.ae_title:"),
        ("[[routing.rules]]\nname = \"r\"\nprotocol_name_include = \"([\"\n",
         "routing.rules.0.protocol_name_include: invalid regular expression"),
        ("[storage]\ndata_dir = \"/proc/dicomnode-cannot-write\"\n", "storage.data_dir:"),
        ("[node\nport = 1\n", "not valid TOML"),
        ("[grading]\nbulge_mm = 2\n", "grading: unknown [grading] key(s): ['bulge_mm']"),
    ],
)
def test_broken_config_gives_one_line_naming_the_key(tmp_path: Path, text: str, expected: str) -> None:
    result = _serve(tmp_path, text)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert expected in lines[0]


def test_port_in_use_stops_the_node_with_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _serve(tmp_path, f"[node]\nport = {port}\nbind_address = \"127.0.0.1\"\n"
                                  "[storage]\ndata_dir = \"data\"\n[pipeline]\nworkers = 0\n")
    assert result.returncode == 2
    assert f"node.port: cannot listen on 127.0.0.1:{port}: already in use" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_config_is_found_by_flag_then_environment_then_working_directory(tmp_path: Path, monkeypatch) -> None:
    flag, env, local = (tmp_path / name for name in ("flag.toml", "env.toml", "config.toml"))
    flag.write_text("[node]\nport = 1001\n")
    env.write_text("[node]\nport = 1002\n")
    local.write_text("[node]\nport = 1003\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DICOMNODE_CONFIG", str(env))
    assert load_settings(flag)[0].node.port == 1001
    assert load_settings(None)[0].node.port == 1002
    monkeypatch.delenv("DICOMNODE_CONFIG")
    assert load_settings(None)[0].node.port == 1003
    local.unlink()
    assert load_settings(None) == (Settings(), None)


def test_missing_config_file_named_by_the_flag_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "nope.toml")


def test_the_documented_config_toml_is_valid_and_equals_the_embedded_defaults() -> None:
    documented = Path(__file__).resolve().parents[2] / "config.toml"
    settings, _ = load_settings(documented)
    defaults = Settings()
    settings.storage.data_dir = defaults.storage.data_dir  # made absolute relative to the file
    from dicomnode.config import grading_settings

    assert grading_settings(settings.grading) == grading_settings(defaults.grading)
    settings.grading = defaults.grading  # the documented values, equal to the grader's defaults
    assert settings == defaults


def test_missing_model_weights_stop_the_node_with_one_line(tmp_path: Path) -> None:
    result = _serve(tmp_path, "[pipeline]\nmodel = \"nowhere/spine.pt\"\n[storage]\ndata_dir = \"data\"\n"
                              f"[node]\nport = {free_port()}\n")
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "pipeline.model:" in lines[0] and "not found" in lines[0]


def test_corrupt_model_weights_stop_the_node_with_one_line(tmp_path: Path) -> None:
    bundled = Path(__file__).resolve().parents[2] / "pipeline" / "weights" / "spine_unet2d.pt"
    corrupt = tmp_path / "spine.pt"
    corrupt.write_bytes(bundled.read_bytes()[:-100] + b"x" * 100)
    sidecar = bundled.with_suffix(".json")
    (tmp_path / "spine.json").write_text(sidecar.read_text())
    result = _serve(tmp_path, f"[pipeline]\nmodel = \"{corrupt}\"\n[storage]\ndata_dir = \"data\"\n"
                              f"[node]\nport = {free_port()}\n")
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "pipeline.model:" in lines[0] and "checksum mismatch" in lines[0]


def test_turning_the_fine_pass_off_changes_the_version_in_every_job_key() -> None:
    # Result UIDs derive from the job key: the same key must never name two different analyses.
    from dicomnode.service import load_analysis

    _, with_fine = load_analysis(Settings())
    settings = Settings()
    settings.pipeline.fine_pass = False
    _, without = load_analysis(settings)
    assert with_fine != without and without.endswith("-nofine")
