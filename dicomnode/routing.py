"""Declarative routing: which complete series are analysed, and why.

Rules come from `[[routing.rules]]` in config.toml; the first rule whose every condition holds decides.
Nothing the admin writes is evaluated as code: conditions are fixed kinds (equals-one-of, regex,
minimum, computed plane). A series made by a dicomnode is never analysed, whatever the rules say.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from dicomnode.config import RoutingRule, RoutingSettings


@dataclass(frozen=True)
class SeriesFacts:
    """What routing looks at, computed from the index (service) or the files (`rules-test`)."""

    modality: str | None
    sop_class_uid: str | None
    orientation: tuple[float, ...] | None
    series_description: str | None
    protocol_name: str | None
    body_part: str | None
    calling_ae_title: str | None
    slices: int
    own_output: bool = False


@dataclass(frozen=True)
class Decision:
    action: str  # "analyse" or "ignore"
    rule: str
    reason: str


def parse_orientation(text: str | None) -> tuple[float, ...] | None:
    if not text:
        return None
    try:
        values = tuple(float(v) for v in text.split("\\"))
    except ValueError:
        return None
    return values if len(values) == 6 else None


def plane_of(orientation: tuple[float, ...] | None, tolerance_deg: float = 20.0) -> str | None:
    """sagittal / coronal / axial when the slice normal is within ``tolerance_deg`` of the L-R, A-P or
    S-I axis (patient coordinates), else oblique; None without an orientation."""
    if orientation is None:
        return None
    row, column = np.asarray(orientation[:3]), np.asarray(orientation[3:])
    normal = np.cross(row, column)
    length = float(np.linalg.norm(normal))
    if length < 1e-6:
        return None
    normal /= length
    limit = math.cos(math.radians(tolerance_deg))
    for axis, name in ((0, "sagittal"), (1, "coronal"), (2, "axial")):
        if abs(normal[axis]) >= limit:
            return name
    return "oblique"


def _search(pattern: str | None, value: str | None) -> bool:
    return pattern is not None and re.search(pattern, value or "") is not None


def _mismatch(rule: RoutingRule, facts: SeriesFacts) -> str | None:
    """Why ``rule`` does not apply (the first failing condition), or None when it does."""
    checks: list[tuple[bool, str]] = [
        (rule.modality is not None and (facts.modality or "") not in rule.modality,
         f"modality {facts.modality} not in {rule.modality}"),
        (rule.sop_classes is not None and (facts.sop_class_uid or "") not in rule.sop_classes,
         f"SOP class {facts.sop_class_uid} not listed"),
        (rule.calling_ae_titles is not None and (facts.calling_ae_title or "") not in rule.calling_ae_titles,
         f"calling AE {facts.calling_ae_title} not listed"),
        (rule.min_slices is not None and facts.slices < rule.min_slices,
         f"{facts.slices} slices < {rule.min_slices}"),
    ]
    if rule.plane is not None:
        plane = plane_of(facts.orientation, rule.plane_tolerance_deg)
        checks.append((plane != rule.plane, f"plane {plane} is not {rule.plane}"))
    for field, value in (("series_description", facts.series_description),
                         ("protocol_name", facts.protocol_name), ("body_part", facts.body_part)):
        include = getattr(rule, f"{field}_include")
        exclude = getattr(rule, f"{field}_exclude")
        missing = include is not None and not _search(include, value)
        checks.append((missing, f"{field} does not match include"))
        checks.append((_search(exclude, value), f"{field} matches exclude"))
    return next((reason for failed, reason in checks if failed), None)


def decide(routing: RoutingSettings, facts: SeriesFacts) -> Decision:
    """The first matching rule decides; without one, ``routing.default_action``."""
    if facts.own_output:
        return Decision("ignore", "(built-in)", "made by a dicomnode: results are never analysed")
    misses = []
    for rule in routing.rules:
        reason = _mismatch(rule, facts)
        if reason is None:
            return Decision(rule.action, rule.name, "all conditions hold")
        misses.append(f"{rule.name}: {reason}")
    return Decision(routing.default_action, "(default)", "; ".join(misses) or "no rules configured")
