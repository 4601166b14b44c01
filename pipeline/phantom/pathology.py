"""Random pathology per level, drawn before the spine is built (heights, slips) and applied after it.

Degeneration is drawn per patient (an "age" from 0 to 1) and per level, concentrated where it is in
real populations: lower lumbar discs degenerate most, spondylolisthesis is mostly L4/L5, Modic changes
sit next to degenerated discs, wedge fractures at the thoracolumbar junction. ``force`` overrides any
draw per level (tests and demos ask for an exact finding).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from pipeline.phantom.layout import Spine, Vertebra, disc_frame

HERNIATION_CLASSES = ("none", "bulge", "protrusion", "extrusion")


def _lower_lumbar_weight(level: str) -> float:
    return {
        "L4/L5": 1.0,
        "L5/S1": 0.9,
        "L6/S1": 0.9,
        "L5/L6": 1.0,
        "L3/L4": 0.7,
        "L2/L3": 0.5,
        "L1/L2": 0.35,
    }.get(level, 0.25 if level.startswith(("T11", "T12", "T13")) else 0.2)


def draw_before_build(
    rng: np.random.Generator, levels: list[str], vertebrae: list[str], amount: float, force: dict[str, dict]
) -> dict[str, dict[str, Any]]:
    """Per disc level: Pfirrmann grade, height factor, slip; per vertebra: wedge fracture.

    ``amount`` scales how much pathology a spine carries (0 = healthy young adult).
    """
    age = rng.uniform(0.0, 1.0) ** 1.4 * amount
    out: dict[str, dict[str, Any]] = {}
    for level in levels:
        weight = _lower_lumbar_weight(level)
        severity = age * weight + rng.normal(0, 0.18)
        grade = int(np.clip(np.round(1 + severity * 3.6 + rng.normal(0, 0.4)), 1, 5))
        params = dict(force.get(level, {}))
        grade = int(params.get("pfirrmann", grade))
        params["pfirrmann"] = grade
        if "height_factor" not in params:
            low, high = {1: (0.95, 1.06), 2: (0.93, 1.05), 3: (0.78, 1.0), 4: (0.55, 0.9), 5: (0.25, 0.45)}[grade]
            params["height_factor"] = rng.uniform(low, high)
        if "slip" not in params:
            params["slip"] = _draw_slip(rng, level, age)
        out[level] = params
    candidates = [v for v in vertebrae if v in ("T6", "T7", "T8", "T9", "T10", "T11", "T12", "L1", "L2", "L3")]
    if candidates and rng.random() < 0.1 * amount:
        name = rng.choice(candidates, p=_fracture_weights(candidates))
        out[str(name)] = {"wedge_loss": rng.uniform(0.18, 0.45), "oedema": bool(rng.random() < 0.5)}
    for name, params in force.items():
        if "/" not in name:
            out[name] = dict(params)
    return out


def _fracture_weights(candidates: list[str]) -> np.ndarray:
    weights = np.array([3.0 if v in ("T12", "L1") else 1.0 for v in candidates])
    return weights / weights.sum()


def _draw_slip(rng: np.random.Generator, level: str, age: float) -> float:
    """Signed slip in mm (positive = anterolisthesis); small sub-threshold offsets elsewhere."""
    chance = {"L4/L5": 0.14, "L5/S1": 0.07, "L3/L4": 0.05, "L6/S1": 0.07}.get(level, 0.0) * (0.4 + age)
    if rng.random() < chance:
        return float(rng.uniform(3.5, 16.0) if rng.random() < 0.8 else rng.uniform(16.0, 24.0))
    if level.startswith(("L1", "L2", "L3")) and rng.random() < 0.05 * (0.4 + age):
        return float(-rng.uniform(3.5, 6.5))
    return float(np.clip(rng.normal(0.0, 0.5), -1.5, 1.5))


def apply_after_build(
    rng: np.random.Generator, spine: Spine, drawn: dict[str, dict[str, Any]], force: dict[str, dict]
) -> None:
    """Bulges, herniations, flavum, Modic changes and endplate defects onto the built spine."""
    for disc in spine.discs:
        params = drawn.get(disc.level, {})
        forced = force.get(disc.level, {})
        grade = params.get("pfirrmann", 1)
        disc.pfirrmann = grade
        lumbar = disc.level.startswith("L") or disc.level.startswith(("T12/", "T11/"))
        weight = _lower_lumbar_weight(disc.level)
        disc.bulge = float(
            rng.uniform(*{1: (0.0, 0.8), 2: (0.2, 1.1), 3: (0.4, 1.4), 4: (0.5, 1.4), 5: (0.3, 1.2)}[grade])
        )
        kind = forced.get("herniation")
        if kind is None:
            p = min(0.08 + 0.12 * (grade - 1), 0.5) * weight
            kind = "none"
            if rng.random() < p:
                kind = str(rng.choice(["bulge", "protrusion", "extrusion"], p=[0.45, 0.4, 0.15]))
        if kind == "bulge":
            disc.bulge = float(rng.uniform(1.9, 2.7))
        elif kind in ("protrusion", "extrusion"):
            extent = forced.get("extent", rng.uniform(3.8, 7.0) if kind == "protrusion" else rng.uniform(4.5, 8.5))
            width = rng.uniform(9.0, 16.0)
            size = rng.uniform(6.0, 9.0)
            migration = 0.0
            if kind == "extrusion":
                migration = float(rng.uniform(5.0, 10.0) * rng.choice([-1.0, 1.0]))
                size = rng.uniform(8.0, 12.0)
            disc.herniation = (float(extent), float(width), float(size), migration)
        disc.flavum = float(forced.get("flavum", rng.uniform(1.8, 3.0)))
        if "flavum" not in forced and lumbar and grade >= 3 and rng.random() < 0.5 * weight:
            disc.flavum = float(rng.uniform(3.5, 7.5))
        upper, lower = spine.vertebrae[disc.upper], spine.vertebrae[disc.lower]
        for vertebra, endplate, key in ((upper, upper.inferior, "upper"), (lower, lower.superior, "lower")):
            modic = forced.get(f"modic_{key}")
            if modic is None:
                modic = 0
                if grade >= 3 and rng.random() < 0.2 * (grade - 2) * weight:
                    modic = int(rng.choice([1, 2, 3], p=[0.3, 0.6, 0.1]))
            endplate.modic = int(modic)
            if modic:
                endplate.modic_depth = float(rng.uniform(3.0, 0.3 * vertebra.height))
                endplate.modic_extent = float(rng.uniform(0.4, 1.0))
            defect = forced.get(f"endplate_defect_{key}")
            if defect is None:
                defect = rng.random() < (0.06 if disc.level[0] in "TL" else 0.01) * (1 + grade / 3)
            if defect and vertebra.kind in ("body", "axis", "sacrum"):
                # 5-11 mm wide and as deep as its radius beyond the endplate surface: Schmorl nodes mostly
                # take a third of the endplate (Samartzis et al., Osteoarthritis Cartilage 2016)
                radius = float(rng.uniform(2.5, 5.5))
                u = float(rng.uniform(-0.25, 0.25) * vertebra.width)
                v = float(rng.uniform(-0.2, 0.25) * vertebra.depth)
                u = _off_centre_lines(vertebra, u, radius, disc_frame(upper, lower)[0])
                endplate.schmorl = (u, v, radius)
                endplate.schmorl_grade = int(grade)


NODE_CLEARANCE_MM = 4.5
"""Lateral distance kept between a Schmorl node and the mid-sagittal lines the heights are measured on:
half the widest slice spacing (6.5 mm) and 1.25 mm for an oblique slab."""


def _off_centre_lines(vertebra: Vertebra, u: float, radius: float, disc_centre: NDArray[np.float64]) -> float:
    """The node's lateral position moved out, where needed, so that the node (disc material, labelled as
    the disc) crosses neither the body's own axis nor the disc's centre line, nor the slice a grader
    measures them on: the disc and body heights (truth and graded) stay endplate to endplate. Nodes stay
    as common off the midline as before; kept within the endplate of a small body."""
    centre_u = float(vertebra.frame[:, 0] @ (disc_centre - vertebra.centre))
    side = 1.0 if u >= 0 else -1.0
    needed = max(0.0, side * centre_u) + radius + NODE_CLEARANCE_MM
    return side * min(max(abs(u), needed), max(0.5 * vertebra.width - 0.5 * radius, abs(u)))
