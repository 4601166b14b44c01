"""The measurements of one level on one slice, each exactly as :mod:`pipeline.definitions` words it.

Pure functions of a :class:`~pipeline.grading.geometry.LevelGeometry` and 2-D masks, so each can be
tested on a hand-drawn label map with known answers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from pipeline.grading.geometry import BodyFrame, LevelGeometry
from pipeline.grading.plane import crossing, longest_run, pixel_points, run_through, sample

WALL_INSET_MM = 2.0
"""Anterior and posterior heights are read this far inside the walls, where the rounded edge of a real
body (and the pixel staircase of a tilted one) no longer shortens them."""


def disc_heights(geo: LevelGeometry, disc: NDArray[np.bool_], spacing: tuple[float, float]) -> dict[str, float]:
    """Anterior, middle and posterior disc height (mm).

    Middle: the run of the disc label through the disc centre along the disc axis (definitions'
    ``disc_height_index``). Anterior / posterior: the distance along the disc axis between the two
    endplate lines at the anterior / posterior corners of the disc space (Frobin-style corner heights,
    which stay defined when the disc's own signal or label is irregular at its margins).
    """
    middle, _, _ = run_through(disc, geo.centre, geo.w, spacing, reach=40.0)
    up, lo = geo.upper, geo.lower
    anterior = float((up.anterior_inferior - lo.anterior_superior) @ geo.w)
    posterior = float((up.posterior_inferior - lo.posterior_superior) @ geo.w)
    return {"anterior": max(anterior, 0.0), "middle": middle, "posterior": max(posterior, 0.0)}


def body_heights(frame: BodyFrame, body: NDArray[np.bool_], spacing: tuple[float, float]) -> dict[str, float]:
    """Anterior, middle and posterior height of a vertebral body (mm), along its own axis.

    Middle: the run of the body's label through its centre along its cranio-caudal axis (the height the
    disc height index divides by). Anterior / posterior: the same run :data:`WALL_INSET_MM` inside each
    wall (a wedge fracture lowers the anterior one).
    """
    centre = frame.centre
    middle, _, _ = run_through(body, centre, frame.w, spacing, reach=60.0)
    out = {"middle": middle}
    for name, along in (("anterior", frame.anterior - WALL_INSET_MM), ("posterior", frame.posterior + WALL_INSET_MM)):
        point = frame.point(along, 0.5 * (frame.superior_mid + (frame.inferior_mid or 0.0)))
        out[name] = run_through(body, point, frame.w, spacing, reach=60.0)[0]
    return out


def slip(geo: LevelGeometry) -> tuple[float, float]:
    """``(slip_mm, lower_endplate_length_mm)`` by the posterior-wall method.

    The signed distance, parallel to the lower body's superior endplate (anterior positive), from the
    lower body's posterior wall line to the upper body's posterior-inferior corner; the lower endplate
    length is the lower body's AP length at that endplate.
    """
    lower = geo.lower
    corner = geo.upper.posterior_inferior
    offset = float((corner - lower.origin) @ lower.v) - lower.posterior
    return offset, lower.depth


CANAL_LINE_OFFSETS = (-0.5, -0.25, 0.0, 0.25, 0.5)
"""Offsets (mm, along the disc axis) of the five lines whose mean is the canal AP diameter."""
CANAL_LINE_MM = 45.0


def canal_ap(geo: LevelGeometry, canal: NDArray[np.bool_], spacing: tuple[float, float]) -> float:
    """Dural-sac AP diameter at the disc level (mm), as ``definitions.stenosis_grade`` words it: along the
    line from the disc centre backwards parallel to the disc's AP axis (45 mm), the longest run of the
    canal (sac or cord) label; the mean over five such lines -0.5..+0.5 mm around the centre."""
    runs = [
        longest_run(canal, geo.centre + geo.w * offset, -geo.v, spacing, length=CANAL_LINE_MM)
        for offset in CANAL_LINE_OFFSETS
    ]
    return float(np.mean(runs))


def herniation(
    geo: LevelGeometry, disc: NDArray[np.bool_], spacing: tuple[float, float], step: float = 0.1
) -> tuple[float, float]:
    """``(posterior_extent_mm, migration_mm)`` of the disc beyond the posterior-wall line.

    Extent: the largest distance of disc tissue behind the line through the two posterior corners,
    perpendicular to it, read on the bilinearly interpolated disc mask (lines perpendicular to the wall
    every ``step`` mm, each to its last 0.5 crossing; the truth samples the continuous shape). Migration:
    how far disc tissue behind that line reaches above the upper inferior / below the lower superior
    endplate line, from pixel centres (so the 1-2 mm of annulus at the corners never reads as a
    fragment; a real extrusion migrates 5 mm and more).
    """
    back = geo.back
    corner_lo = geo.lower.posterior_superior
    corner_up = geo.upper.posterior_inferior
    wall = geo.wall_direction
    wall_length = float((corner_up - corner_lo) @ wall)
    along = np.arange(-15.0, wall_length + 15.0, step)
    depth = np.arange(-3.0, 25.0, step)
    grid = corner_lo + along[:, None, None] * wall + depth[None, :, None] * back
    values = sample(disc, grid.reshape(-1, 2), spacing).reshape(along.size, depth.size)
    inside = values >= 0.5
    extent = 0.0
    rows = np.flatnonzero(inside.any(axis=1))
    for r in rows:
        last = int(np.flatnonzero(inside[r])[-1])
        end = crossing(values[r], last, last + 1) if last + 1 < depth.size else float(last)
        extent = max(extent, -3.0 + end * step)
    points = pixel_points(disc, spacing)
    if len(points) == 0:
        return max(extent, 0.0), 0.0
    posterior = (points - corner_lo) @ back > 0
    if not posterior.any():
        return max(extent, 0.0), 0.0
    up_dist = (points[posterior] - corner_up) @ geo.upper.w
    down_dist = -((points[posterior] - corner_lo) @ geo.lower.w)
    return max(extent, 0.0), float(max(up_dist.max(), down_dist.max(), 0.0))


@dataclass(frozen=True)
class SliceMeasures:
    """The per-slice numbers that are interpolated to the midline."""

    position_mm: float
    """Signed distance of this slice's point of interest from the midline (along the slice normal)."""
    canal_ap: float
    herniation_extent: float
    migration: float
