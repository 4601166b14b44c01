"""Disc signal on T2: the nucleus against CSF, its homogeneity, and the features Pfirrmann reads.

Pfirrmann grades a disc by the brightness of its nucleus (against CSF, the built-in white reference of
a T2 image), by how homogeneous it is, by how clearly nucleus and annulus differ, and by the disc's
height. Each of these is read here as one number on the slice nearest the disc's midline, within the
disc label only, so that the grade can be checked against them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from pipeline.grading.geometry import LevelGeometry
from pipeline.grading.plane import pixel_points, run_through, sample
from pipeline.labels import CANAL

CSF_PERCENTILE = 90.0
"""CSF reference = this percentile of the dural sac's voxels near the level (nerve roots, cord and
partial volume at the sac's edges only pull values down, so a high percentile is the fluid itself)."""
CSF_REACH_MM = 30.0


@dataclass(frozen=True)
class DiscSignal:
    """Signal features of one disc (ratios are dimensionless)."""

    nucleus_csf_ratio: float
    """Mean signal of the disc's central region divided by the CSF reference."""
    homogeneity: float
    """1 - coefficient of variation of the central region (1 = perfectly uniform)."""
    cleft: float
    """Depth of a central horizontal dark band (0 = none): 1 - centre / brightest off-centre signal on
    the disc's axial profile."""
    bright_fraction: float
    """Share of the disc's pixels brighter than half the CSF reference (the size of a bright nucleus)."""
    annulus_contrast: float
    """Central signal over the signal of the disc's anterior and posterior ends (distinction of nucleus
    and annulus; near 1 when lost)."""
    peak_csf_ratio: float
    """95th percentile of the central region over the CSF reference (the nucleus at its brightest)."""

    def vector(self) -> list[float]:
        return [
            self.nucleus_csf_ratio,
            self.homogeneity,
            self.cleft,
            self.bright_fraction,
            self.annulus_contrast,
            self.peak_csf_ratio,
        ]


FEATURE_NAMES = (
    "nucleus_csf_ratio",
    "homogeneity",
    "cleft",
    "bright_fraction",
    "annulus_contrast",
    "peak_csf_ratio",
)


def _dip(profile: NDArray[np.float64], t: NDArray[np.float64], height: float) -> float:
    """Deepest relative dip of a profile within +-0.15 height of its centre, against the brightest
    point on each side of it (0 when the profile has no dip there)."""
    best = 0.0
    for c in np.flatnonzero(np.abs(t) <= 0.15 * height):
        below = profile[(t < t[c] - 0.08 * height) & (t >= -0.42 * height)]
        above = profile[(t > t[c] + 0.08 * height) & (t <= 0.42 * height)]
        if below.size == 0 or above.size == 0:
            continue
        shoulder = min(below.max(), above.max())
        if shoulder > 0:
            best = max(best, 1.0 - profile[c] / shoulder)
    return float(np.clip(best, 0.0, 1.0))


def csf_reference(
    image: NDArray[np.floating],
    labels: NDArray[np.integer],
    slices: list[int],
    geo: LevelGeometry,
    spacing: tuple[float, float],
) -> float | None:
    """CSF signal near a level: a high percentile of the sac (label CANAL, not cord) within
    :data:`CSF_REACH_MM` of the disc centre along the disc axis on the midline slices."""
    values = []
    for k in slices:
        sac = labels[k] == CANAL
        if not sac.any():
            continue
        points = pixel_points(sac, spacing)
        near = np.abs((points - geo.centre) @ geo.w) <= CSF_REACH_MM
        jj, ii = np.nonzero(sac)
        values.append(image[k][jj[near], ii[near]])
    if not values:
        return None
    pooled = np.concatenate(values).astype(np.float64)
    if pooled.size < 15:
        return None
    return float(np.percentile(pooled, CSF_PERCENTILE))


def disc_signal(
    image: NDArray[np.floating],
    disc: NDArray[np.bool_],
    geo: LevelGeometry,
    csf: float,
    spacing: tuple[float, float],
    middle_height: float,
) -> DiscSignal | None:
    """Signal features of a disc on one slice (``image`` and ``disc`` are that slice)."""
    if csf <= 0 or not disc.any() or middle_height <= 0:
        return None
    depth, t_lo, t_hi = run_through(disc, geo.centre, geo.v, spacing, reach=45.0)
    if depth <= 0:
        return None
    centre = geo.centre + geo.v * (0.5 * (t_lo + t_hi))
    points = pixel_points(disc, spacing)
    jj, ii = np.nonzero(disc)
    values = image[jj, ii].astype(np.float64)
    dv = (points - centre) @ geo.v
    dw = (points - centre) @ geo.w
    central = (np.abs(dv) <= 0.3 * depth) & (np.abs(dw) <= max(0.3 * middle_height, 0.6))
    if central.sum() < 3:
        central = np.abs(dv) <= 0.3 * depth
    if central.sum() < 3:
        return None
    core = values[central]
    mean = float(core.mean())
    ratio = mean / csf
    homogeneity = 1.0 - float(core.std()) / max(mean, 1e-6)
    ends = np.abs(dv) >= 0.38 * depth
    annulus = float(np.median(values[ends])) if ends.sum() >= 3 else mean
    contrast = mean / max(annulus, 1e-6 * csf)
    bright = float((values > 0.5 * csf).mean())
    # axial profiles through the nucleus at seven AP positions; the cleft is the deepest dip between two
    # brighter shoulders near mid-height (a horizontal band need not sit exactly at the centre)
    t = np.linspace(-0.45 * middle_height, 0.45 * middle_height, 37)
    offsets = np.linspace(-0.2 * depth, 0.2 * depth, 7)
    grid = centre + offsets[:, None, None] * geo.v + t[None, :, None] * geo.w
    profiles = sample(image, grid.reshape(-1, 2), spacing).reshape(offsets.size, t.size)
    cleft = float(np.median([_dip(row, t, middle_height) for row in profiles]))
    peak = float(np.percentile(core, 95)) / csf
    return DiscSignal(ratio, homogeneity, cleft, bright, contrast, peak)
