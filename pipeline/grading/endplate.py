"""Endplate defects: disc material in a focal depression of an endplate, read from the label map.

A Schmorl node (Schmorl 1927) is nucleus pulposus pushed through the endplate into the vertebral body: a
focal contour defect of the endplate filled with disc material, with the signal of the adjacent disc and
a thin sclerotic rim (Kyere et al., Eur Spine J 2012). In a label map that labels disc material as disc
(the phantom's does, and so does a model trained on it), the disc's label then reaches locally beyond the
endplate into the body, which the image's grey values alone show far less reliably: a node's content has
the disc's signal, which may be bright, iso- or hypointense to marrow, and its 1 mm rim blurs into it on
3-5 mm slices (a signal-only detector reached ~75 % sensitivity at 95 % specificity on the tuning
phantoms, see docs/grading.md).

So the detector reads, in the body's own frame on one sagittal slice, column by column along the endplate
between its walls, how deep under the endplate line (through the body's two corners) the disc's label
reaches, contiguous from the disc. A normal endplate gives a smooth profile: the central concavity. Its
baseline is a quadratic fitted robustly to the profile (refitted without the columns well above it); a
defect is a run of columns deeper than that baseline that is at least :data:`MIN_WIDTH_MM` wide (the mask
is despeckled and the profile opened with that width, so a ragged mask's spikes do not count), closed on
both sides (a rounded rim, where the disc follows the body's corner, opens towards a wall) and not wider
than :data:`MAX_WIDTH_SHARE` of the endplate (a diffusely eroded or wedged endplate is no focal defect).
Its depth over the baseline, in millimetres, is what the grade's threshold applies to.

The caller reads every slice of the endplate's mid-sagittal slab (a node sits anywhere across the
endplate's width) and keeps the deepest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from pipeline.grading.geometry import BodyFrame

SAMPLE_MM = 0.25
"""Spacing of the samples along and under the endplate."""
DISC_SIDE_MM = 3.0
"""How far on the disc's side of the endplate line a column starts (the disc must be met there)."""
SEARCH_DEPTH_MM = 10.0
"""How far under the endplate line the disc is followed into the body."""
WALL_MARGIN_MM = 3.0
"""Columns this close to a wall are left out: the rim is rounded there and the disc follows it."""
MIN_WIDTH_MM = 2.0
"""A depression narrower than this along the endplate is a ragged mask's spike, not a defect."""
MAX_WIDTH_SHARE = 0.6
"""A depression wider than this share of the endplate is no focal defect."""
RUN_MM = 0.5
"""Columns deeper than the baseline by more than this belong to a depression (pixel staircase stays under)."""
SLAB_SHARE = 0.5
"""Slices where the disc's sagittal area is at least this share of its largest make the searched slab."""


@dataclass(frozen=True)
class DefectReading:
    """The deepest focal depression of one endplate on one slice."""

    depth_mm: float
    """How far the disc reaches beyond the endplate's fitted profile there (0 when nowhere focally)."""
    width_mm: float
    """Its length along the endplate where it is at least half that deep."""
    position_mm: float
    """Where along the endplate it is deepest, mm from the posterior wall (NaN without a depression)."""


NO_DEFECT = DefectReading(0.0, 0.0, float("nan"))


def _line(frame: BodyFrame, along_v: NDArray[np.float64], endplate: str) -> NDArray[np.float64] | None:
    """Position along ``w`` of the endplate line (through the two corners) at positions ``along_v``."""
    if endplate == "superior":
        a, b = frame.superior_posterior, frame.superior_anterior
    else:
        if frame.inferior_posterior is None or frame.inferior_anterior is None:
            return None
        a, b = frame.inferior_posterior, frame.inferior_anterior
    return a + (along_v - frame.posterior) / max(frame.depth, 1e-6) * (b - a)


def disc_reach(
    disc: NDArray[np.bool_], frame: BodyFrame, spacing: tuple[float, float], endplate: str
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Column positions along the endplate (mm from the posterior wall) and, at each, how deep under the
    endplate line (mm, into the body) the disc's label reaches, contiguous from the disc's side.

    Columns where the disc is not met within :data:`DISC_SIDE_MM` of the line are left out."""
    empty = np.zeros(0), np.zeros(0)
    xs = np.arange(frame.posterior + WALL_MARGIN_MM, frame.anterior - WALL_MARGIN_MM, SAMPLE_MM)
    line = _line(frame, xs, endplate)
    if line is None or xs.size < 8:
        return empty
    depths = np.arange(-DISC_SIDE_MM, SEARCH_DEPTH_MM + 1e-9, SAMPLE_MM)
    into_body = -frame.w if endplate == "superior" else frame.w
    points = (
        frame.origin
        + xs[None, :, None] * frame.v
        + line[None, :, None] * frame.w
        + depths[:, None, None] * into_body
    )
    coords = [points[..., 0] / spacing[0], points[..., 1] / spacing[1]]
    inside = ndimage.map_coordinates(disc.astype(np.float32), coords, order=1, mode="constant", cval=0.0) >= 0.5
    met = inside & (depths[:, None] <= 0.0)
    found = met.any(axis=0)
    first = np.argmax(met, axis=0)
    # the disc's run from where it is first met, down into the body
    below = np.arange(depths.size)[:, None] >= first[None, :]
    gap = below & ~inside
    end = np.where(gap.any(axis=0), np.argmax(gap, axis=0), depths.size)
    reach = depths[np.maximum(end - 1, 0)] + 0.5 * SAMPLE_MM
    return (xs - frame.posterior)[found], reach[found]


def baseline(positions: NDArray[np.float64], values: NDArray[np.float64]) -> NDArray[np.float64]:
    """The normal endplate under a profile: a quadratic (the central concavity) fitted to it, refitted
    on the columns not more than :data:`RUN_MM` above the fit (a defect only ever adds depth)."""
    keep = np.ones(values.size, dtype=bool)
    fit = np.full(values.size, float(np.median(values)))
    for _ in range(6):
        if keep.sum() < 6:
            break
        fit = np.polyval(np.polyfit(positions[keep], values[keep], 2), positions)
        new_keep = values - fit <= RUN_MM
        if np.array_equal(new_keep, keep):
            break
        keep = new_keep
    return fit


def focal_depression(positions: NDArray[np.float64], values: NDArray[np.float64]) -> DefectReading:
    """The deepest focal bump of a profile over its :func:`baseline`: at least :data:`MIN_WIDTH_MM`
    wide (its height is read on the profile opened with that width), closed on both sides and not wider
    than :data:`MAX_WIDTH_SHARE` of the profile."""
    if positions.size < 8:
        return NO_DEFECT
    excess = values - baseline(positions, values)
    step = float(np.median(np.diff(positions)))
    opened = ndimage.grey_opening(excess, size=max(round(MIN_WIDTH_MM / step), 1), mode="nearest")
    span = positions[-1] - positions[0] + step
    runs, count = ndimage.label(excess > RUN_MM)
    best = NO_DEFECT
    for run in range(1, count + 1):
        idx = np.flatnonzero(runs == run)
        if idx[0] == 0 or idx[-1] == positions.size - 1 or (idx[-1] - idx[0] + 1) * step > MAX_WIDTH_SHARE * span:
            continue
        peak = float(opened[idx].max())
        if peak <= best.depth_mm:
            continue
        half = idx[excess[idx] >= 0.5 * peak]
        deepest = float(positions[idx[np.argmax(opened[idx])]])
        best = DefectReading(peak, float((half[-1] - half[0] + 1) * step), deepest)
    return best


def defect_on_slice(
    disc: NDArray[np.bool_], frame: BodyFrame, spacing: tuple[float, float], endplate: str
) -> DefectReading:
    """The deepest focal reach of the disc (its mask on the slice) into one endplate of a body (its frame
    on the slice; ``endplate`` ``"superior"`` or ``"inferior"``).

    The mask is first despeckled by a 3 x 3 majority vote: a model's ragged outline puts single disc
    pixels a pixel deep into the body all along an endplate, which a node (several pixels wide and deep)
    survives."""
    despeckled = ndimage.median_filter(disc.astype(np.uint8), size=3).astype(bool)
    return focal_depression(*disc_reach(despeckled, frame, spacing, endplate))


def slab_slices(disc_counts: NDArray[np.integer]) -> list[int]:
    """Slices of an endplate's mid-sagittal slab: where the adjacent disc's sagittal area (pixels per
    slice) is at least :data:`SLAB_SHARE` of its largest, the central part of the endplate's width where
    a node sits. The disc, not the body, says it: the sacrum's label holds the alae, as wide as the
    pelvis, and a body's lateral slices cut its rounded sides obliquely."""
    if disc_counts.size == 0 or disc_counts.max() <= 0:
        return []
    return [int(k) for k in np.flatnonzero(disc_counts >= SLAB_SHARE * disc_counts.max())]
