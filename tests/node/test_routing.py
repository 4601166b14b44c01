"""Routing rules: plane computation, first match wins, own outputs never match, rules-test output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dicomnode.config import RoutingRule, RoutingSettings
from dicomnode.routing import SeriesFacts, decide, plane_of
from tests.node.factory import AXIAL, SAGITTAL, make_series

MR = "1.2.840.10008.5.1.4.1.1.4"


def facts(**changes) -> SeriesFacts:  # type: ignore[no-untyped-def]
    base = dict(modality="MR", sop_class_uid=MR, orientation=tuple(SAGITTAL),
                series_description="T2 TSE SAG", protocol_name="t2_tse_sag", body_part="LSPINE",
                calling_ae_title="PACS", slices=15)
    return SeriesFacts(**{**base, **changes})


@pytest.mark.parametrize(
    ("orientation", "plane"),
    [
        (SAGITTAL, "sagittal"),
        ([0, -1, 0, 0, 0, -1], "sagittal"),  # row direction anterior instead of posterior
        ([0, 0.9848, 0.1736, 0, -0.1736, 0.9848], "sagittal"),  # 10 degrees oblique
        (AXIAL, "axial"),
        ([1, 0, 0, 0, 0, -1], "coronal"),
        ([0, 0.7071, 0.7071, 0.7071, 0, 0], "oblique"),
    ],
)
def test_plane_is_computed_from_image_orientation(orientation, plane: str) -> None:
    assert plane_of(tuple(float(v) for v in orientation)) == plane


def test_default_rules_analyse_a_sagittal_mr_series() -> None:
    decision = decide(RoutingSettings(), facts())
    assert (decision.action, decision.rule) == ("analyse", "sagittal-spine-mr")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"orientation": tuple(AXIAL)}, "plane axial is not sagittal"),
        ({"modality": "CT"}, "modality CT"),
        ({"slices": 3}, "3 slices < 5"),
        ({"series_description": "3-plane localizer"}, "series_description matches exclude"),
    ],
)
def test_default_rules_ignore_other_series_and_say_why(change, reason: str) -> None:
    decision = decide(RoutingSettings(), facts(**change))
    assert decision.action == "ignore" and reason in decision.reason


def test_first_matching_rule_wins() -> None:
    routing = RoutingSettings(rules=[
        RoutingRule(name="no-research-ae", action="ignore", calling_ae_titles=["RESEARCH"]),
        RoutingRule(name="t2", action="analyse", series_description_include="(?i)t2"),
    ])
    assert decide(routing, facts(calling_ae_title="RESEARCH")).rule == "no-research-ae"
    assert decide(routing, facts()).rule == "t2"
    assert decide(routing, facts(series_description="T1 SAG")).action == "ignore"


def test_our_own_outputs_never_match_any_rule() -> None:
    routing = RoutingSettings(rules=[RoutingRule(name="everything", action="analyse")])
    assert decide(routing, facts(own_output=True)).action == "ignore"


def test_rules_test_command_prints_decision_and_rule_per_series(tmp_path: Path) -> None:
    make_series(tmp_path / "sag", 10, description="T2 SAG")
    make_series(tmp_path / "ax", 10, orientation=AXIAL, description="T2 AX", series_number=4)
    (tmp_path / "notes.txt").write_text("not dicom")
    result = subprocess.run([sys.executable, "-m", "dicomnode", "rules-test", str(tmp_path)],
                            capture_output=True, text=True, timeout=60, cwd=tmp_path,
                            env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    sag = next(line for line in lines if "T2 SAG" in line)
    ax = next(line for line in lines if "T2 AX" in line)
    assert "analyse" in sag and "sagittal-spine-mr" in sag
    assert "ignore" in ax and "axial" in ax
    assert "1 file(s) skipped" in result.stdout
