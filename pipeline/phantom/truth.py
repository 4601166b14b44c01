"""The ground truth of a case, measured on the anatomy model with the definitions of the grader.

Lengths (disc height, canal AP diameter, herniation extent) are measured by sampling the model's own
label function along lines and planes at 0.05-0.1 mm, i.e. exactly what an infinitely fine label map
would show; the slip is exact by construction of the chain. Grades then come from
:mod:`pipeline.definitions`, the same functions the grading stage applies to its measurements.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from pipeline import definitions
from pipeline.labels import CANAL, COCCYX, CORD
from pipeline.phantom.grid import Grid
from pipeline.phantom.layout import Disc, Spine, Vertebra, disc_frame
from pipeline.phantom.paint import Canvas, paint_body, paint_disc, paint_spine
from pipeline.phantom.scanner import Plan

NO_ROOTS = np.zeros((0, 3))
CANAL_LINE_OFFSETS = (-0.5, -0.25, 0.0, 0.25, 0.5)
"""Cranio-caudal offsets (mm) of the lines whose mean is the canal AP diameter (pipeline.definitions)."""


def sample_labels(spine: Spine, grid: Grid) -> NDArray[np.uint8]:
    """The label function of the whole model on any grid (label-only painting)."""
    canvas = Canvas(grid, np.zeros(grid.shape, dtype=np.uint8), None)
    paint_spine(canvas, spine, NO_ROOTS, detail=False)
    return canvas.label


def longest_run(labels: NDArray[np.uint8], wanted: set[int], step: float) -> float:
    """Length (mm) of the longest contiguous run of ``wanted`` labels on a sampled line."""
    hit = np.concatenate([[False], np.isin(labels, list(wanted)), [False]])
    edges = np.flatnonzero(np.diff(hit.astype(np.int8)))
    if edges.size == 0:
        return 0.0
    return float((edges[1::2] - edges[0::2]).max() * step)


class _Measurer:
    """Truth measurements on the model for one spine."""

    step = 0.05

    def __init__(self, spine: Spine) -> None:
        self.spine = spine

    def line(self, start: NDArray, direction: NDArray, length: float) -> NDArray[np.uint8]:
        return sample_labels(self.spine, Grid.line(start, direction, length, self.step))[0, 0]

    def centred_run(self, centre: NDArray, axis: NDArray, reach: float, wanted: set[int]) -> float:
        """Length of the run of ``wanted`` through ``centre`` along ``axis``."""
        labels = self.line(centre - axis * reach, axis, 2 * reach)
        mid = labels.size // 2
        hit = np.isin(labels, list(wanted))
        if not hit[mid]:
            return 0.0
        before = np.flatnonzero(~hit[:mid])
        after = np.flatnonzero(~hit[mid:])
        lo = int(before[-1]) + 1 if before.size else 0
        hi = mid + int(after[0]) if after.size else labels.size
        return (hi - lo) * self.step

    def canal_ap(self, centre: NDArray, frame: NDArray) -> float:
        # the five parallel lines as one (1, 5, n) grid: one painting pass instead of five
        offsets = np.asarray(CANAL_LINE_OFFSETS)
        n = int(np.ceil(45.0 / self.step)) + 1
        steps = np.array([frame[:, 0], frame[:, 2] * (offsets[1] - offsets[0]), -frame[:, 1] * self.step])
        grid = Grid(centre + frame[:, 2] * offsets[0], steps, (1, len(offsets), n))
        labels = sample_labels(self.spine, grid)[0]
        return float(np.mean([longest_run(row, {CANAL, CORD}, self.step) for row in labels]))

    def herniation(
        self, disc: Disc, up: Vertebra, lo: Vertebra, centre: NDArray, frame: NDArray
    ) -> tuple[float, float]:
        """(posterior extent beyond the posterior-wall line, migration beyond the endplate lines)."""
        p_up, p_lo = up.posterior_inferior, lo.posterior_superior
        wall = p_up - p_lo
        wall /= np.linalg.norm(wall)
        back = -frame[:, 1]
        back = back - wall * (back @ wall)
        back /= np.linalg.norm(back)
        step = 0.1
        reach_w = disc.height / 2 + 16.0
        origin = 0.5 * (p_up + p_lo) - wall * reach_w - back * 3.0
        nj, ni = int(2 * reach_w / step), int(25.0 / step)
        grid = Grid.plane(origin, wall, back, nj, ni, step)
        labels = sample_labels(self.spine, grid)[0]
        mask = labels == disc.label
        if not mask.any():
            return 0.0, 0.0
        jj, ii = np.nonzero(mask)
        points = origin + np.outer(jj * step, wall) + np.outer(ii * step, back)
        behind = (points - p_lo) @ back
        extent = float(max(behind.max(), 0.0))
        posterior = behind > 0
        if not posterior.any():
            return extent, 0.0
        up_dist = (points[posterior] - p_up) @ up.frame[:, 2]
        down_dist = -((points[posterior] - p_lo) @ lo.frame[:, 2])
        return extent, float(max(up_dist.max(), down_dist.max(), 0.0))


def _local_centroid(spine: Spine, members: list, label: int) -> NDArray[np.float64]:
    """Centroid (body mm) of ``label`` painted with the given structures alone on a 1 mm grid."""
    first = members[0][1]
    extent = np.array([first.width / 2 + 8, max(first.depth, 20.0) / 2 + 14, first.height / 2 + 14])
    step = 1.0
    steps = first.frame.T * step
    shape = tuple(int(2 * e / step) for e in extent)
    origin = first.centre - first.frame @ extent
    grid = Grid(origin, steps, shape)  # type: ignore[arg-type]
    canvas = Canvas(grid, np.zeros(grid.shape, dtype=np.uint8), None)
    for kind, obj, *rest in members:
        if kind == "body":
            paint_body(canvas, obj, 0, 0, False)
        else:
            paint_disc(canvas, obj, rest[0], rest[1], False)
    idx = np.argwhere(canvas.label == label)
    if idx.size == 0:
        return first.centre
    return origin + idx.mean(axis=0) @ steps


def _lps(plan: Plan, point: NDArray) -> list[float]:
    return [round(float(c), 3) for c in plan.pose_rotation @ point + plan.pose_translation]


def _vec(plan: Plan, vector: NDArray) -> list[float]:
    return [round(float(c), 5) for c in plan.pose_rotation @ vector]


def build_truth(spine: Spine, plan: Plan, present: set[int], extra: dict[str, Any]) -> dict[str, Any]:
    """truth.json content: every vertebra and disc with a voxel in the label map, and their findings."""
    m = _Measurer(spine)
    verts = spine.vertebrae
    vertebrae = []
    for v in verts:
        if v.label not in present:
            continue
        entry: dict[str, Any] = {
            "name": v.name,
            "label": v.label,
            "center_lps": _lps(plan, v.centre),
            "axes_lps": {
                "left": _vec(plan, v.frame[:, 0]),
                "anterior": _vec(plan, v.frame[:, 1]),
                "superior": _vec(plan, v.frame[:, 2]),
            },
        }
        if v.kind in ("body", "axis", "sacrum"):
            centroid = _local_centroid(spine, [("body", v)], v.label)
            entry["centroid_lps"] = _lps(plan, centroid)
            entry["depth_mm"] = round(v.depth, 2)
            entry["width_mm"] = round(v.width, 2)
            entry["height_mm"] = round(m.centred_run(v.centre, v.frame[:, 2], v.height, {v.label}), 2)
            entry["posterior_height_mm"] = round(v.height, 2)
            entry["anterior_height_mm"] = round(v.height * (1 - v.wedge_loss), 2)
            loss = 100.0 * v.wedge_loss
            entry["fracture"] = {
                "present": bool(v.wedge_loss > 0),
                "type": "wedge" if v.wedge_loss else "none",
                "height_loss_percent": round(loss, 1),
                "genant": definitions.genant_grade(loss),
                "oedema": bool(v.oedema),
            }
            entry["posterior_superior_corner_lps"] = _lps(plan, v.posterior_superior)
            entry["posterior_inferior_corner_lps"] = _lps(plan, v.posterior_inferior)
        vertebrae.append(entry)
    if COCCYX in present and spine.coccyx_segments:
        first = spine.coccyx_segments[0]
        vertebrae.append(
            {
                "name": "Co",
                "label": COCCYX,
                "center_lps": _lps(plan, first.centre),
                "axes_lps": {
                    "left": _vec(plan, first.frame[:, 0]),
                    "anterior": _vec(plan, first.frame[:, 1]),
                    "superior": _vec(plan, first.frame[:, 2]),
                },
            }
        )
    discs = []
    for disc in spine.discs:
        if disc.label not in present:
            continue
        up, lo = verts[disc.upper], verts[disc.lower]
        centre, frame = disc_frame(up, lo)
        level = f"{up.name}/{lo.name}"
        height = m.centred_run(centre, frame[:, 2], disc.height + 15, {disc.label})
        upper_height = m.centred_run(up.centre, up.frame[:, 2], up.height, {up.label})
        index = definitions.disc_height_index(height, upper_height)
        slip = float((up.posterior_inferior - lo.posterior_superior) @ lo.frame[:, 1])
        canal = m.canal_ap(centre, frame)
        extent, migration = m.herniation(disc, up, lo, centre, frame)
        centroid = _local_centroid(spine, [("body", up), ("disc", disc, up, lo), ("body", lo)], disc.label)
        discs.append(
            {
                "level": level,
                "label": disc.label,
                "upper": up.name,
                "lower": lo.name,
                "center_lps": _lps(plan, centre),
                "centroid_lps": _lps(plan, centroid),
                "axes_lps": {"anterior": _vec(plan, frame[:, 1]), "superior": _vec(plan, frame[:, 2])},
                "pfirrmann": disc.pfirrmann,
                "height_mm": round(height, 2),
                "upper_body_height_mm": round(upper_height, 2),
                "disc_height_index": round(index, 4),
                "height_loss_percent": round(definitions.height_loss_percent(index, level), 1),
                "narrowing": definitions.narrowing_grade(index, level),
                "listhesis": {
                    "mm": round(slip, 2),
                    "percent": round(definitions.slip_percent(slip, lo.depth), 1),
                    "meyerding": definitions.meyerding_grade(slip, lo.depth),
                    "direction": definitions.listhesis_direction(slip),
                    "lower_endplate_length_mm": round(lo.depth, 2),
                },
                "canal_ap_mm": round(canal, 2),
                "stenosis": definitions.stenosis_grade(canal, level),
                "herniation": {
                    "class": definitions.herniation_class(extent, migration),
                    "posterior_extent_mm": round(extent, 2),
                    "migration_mm": round(migration, 2),
                },
                "modic_upper": up.inferior.modic,
                "modic_lower": lo.superior.modic,
                "endplate_defect_upper": up.inferior.schmorl is not None,
                "endplate_defect_lower": lo.superior.schmorl is not None,
                "flavum_mm": round(disc.flavum, 2),
                "posterior_inferior_corner_upper_lps": _lps(plan, up.posterior_inferior),
                "posterior_superior_corner_lower_lps": _lps(plan, lo.posterior_superior),
            }
        )
    return {**extra, "vertebrae": vertebrae, "discs": discs}
