"""Geometry of one disc level on one sagittal slice, from the label map alone.

A vertebral body cut mid-sagittally is a rectangle with slightly concave endplates: its minimum-area
enclosing rectangle gives the posterior wall, the endplate lines and the corners that
:mod:`pipeline.definitions` measures from. The sacrum is no rectangle in the label map (S1..S5 and the
dorsal plate share one label), so its frame comes from its superior endplate instead: a robust line fit
to its interface with the L5/S1 disc, and its walls from the part of the sacrum just below that line.

The disc frame follows the definitions: its cranio-caudal axis is the mean of the two bodies' axes, its
centre the midpoint of the two endplate centres.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from pipeline.grading.plane import (
    Vec2,
    box_offset,
    crop_box,
    exit_distances,
    half_pixel,
    largest_component,
    min_area_rectangle,
    perpendicular,
    pixel_points,
    pixel_square_corners,
    run_through,
    unit,
)

PROFILE_PAD_MM = 14.0
"""Margin kept around a body when its mask is cropped (the refining profiles reach 10 mm outside)."""
SACRUM_BAND_MM = 12.0
"""How far below its endplate line the sacrum's walls are read (S1 is ~30 mm tall; S2 bends away)."""


@dataclass(frozen=True)
class BodyFrame:
    """A vertebral body on one slice: a local origin, its AP axis ``v`` (anterior) and SI axis ``w``
    (superior), the positions of its walls along ``v`` and of its four corners along ``w`` (mm from the
    origin). Corners are kept separately so that a wedge-shaped body keeps its shape."""

    origin: Vec2
    v: Vec2
    w: Vec2
    posterior: float
    anterior: float
    superior_posterior: float
    superior_anterior: float
    inferior_posterior: float | None
    """None where the inferior endplate is not seen (the sacrum's frame only covers its top)."""
    inferior_anterior: float | None
    truncated: bool = False
    """True when the body touches the edge of the image, so its rectangle is not the whole body."""

    def point(self, along_v: float, along_w: float) -> Vec2:
        return self.origin + self.v * along_v + self.w * along_w

    @property
    def depth(self) -> float:
        """AP length of the body (for the lower vertebra of a level: its superior endplate length)."""
        return self.anterior - self.posterior

    @property
    def mid_v(self) -> float:
        return 0.5 * (self.anterior + self.posterior)

    def _inferior(self) -> tuple[float, float]:
        if self.inferior_posterior is None or self.inferior_anterior is None:
            raise ValueError("this body's inferior endplate is not known")
        return self.inferior_posterior, self.inferior_anterior

    @property
    def posterior_superior(self) -> Vec2:
        return self.point(self.posterior, self.superior_posterior)

    @property
    def anterior_superior(self) -> Vec2:
        return self.point(self.anterior, self.superior_anterior)

    @property
    def posterior_inferior(self) -> Vec2:
        return self.point(self.posterior, self._inferior()[0])

    @property
    def anterior_inferior(self) -> Vec2:
        return self.point(self.anterior, self._inferior()[1])

    @property
    def superior_centre(self) -> Vec2:
        return 0.5 * (self.posterior_superior + self.anterior_superior)

    @property
    def inferior_centre(self) -> Vec2:
        return 0.5 * (self.posterior_inferior + self.anterior_inferior)

    @property
    def centre(self) -> Vec2:
        return 0.5 * (self.superior_centre + self.inferior_centre)

    @property
    def superior_mid(self) -> float:
        return 0.5 * (self.superior_posterior + self.superior_anterior)

    @property
    def inferior_mid(self) -> float | None:
        if self.inferior_posterior is None or self.inferior_anterior is None:
            return None
        return 0.5 * (self.inferior_posterior + self.inferior_anterior)


def _touches_edge(mask: NDArray[np.bool_]) -> bool:
    return bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())


def body_frame(
    mask: NDArray[np.bool_], spacing: tuple[float, float], anterior: Vec2, superior_hint: Vec2
) -> BodyFrame | None:
    """Frame of a vertebral body from its mask on one slice (minimum-area rectangle of its pixels,
    refined to sub-pixel edges).

    ``superior_hint`` tells which rectangle axis is cranio-caudal: the one closer to it (the adjacent
    disc's thin axis, so lordosis and tilted bodies are handled); ``anterior`` orients the AP axis.
    """
    full = largest_component(mask)
    box = crop_box(full, int(np.ceil(PROFILE_PAD_MM / min(spacing))))
    if box is None:
        return None
    mask = full[box]
    points = pixel_points(mask, spacing)
    if len(points) < 6:
        return None
    rect = min_area_rectangle(pixel_square_corners(points, spacing))
    if rect is None:
        return None
    centre, a, b, half_a, half_b = rect
    if abs(a @ superior_hint) >= abs(b @ superior_hint):
        w, half_w, v, half_v = a, half_a, b, half_b
    else:
        w, half_w, v, half_v = b, half_b, a, half_a
    w = w if w @ superior_hint >= 0 else -w
    v = v if v @ anterior >= 0 else -v
    rough = BodyFrame(centre, v, w, -half_v, half_v, half_w, half_w, -half_w, -half_w, _touches_edge(full))
    refined = refine(rough, mask, spacing)
    return replace(refined, origin=refined.origin + box_offset(box, spacing))


def _robust_line(points: NDArray[np.float64], tolerance: float = 1.5) -> tuple[Vec2, Vec2, NDArray[np.bool_]]:
    """Total-least-squares line through points, refitted without outliers (a herniation along a wall)."""
    keep = np.ones(len(points), dtype=bool)
    centre, direction = points.mean(axis=0), np.array([1.0, 0.0])
    for _ in range(4):
        centre = points[keep].mean(axis=0)
        _, _, vt = np.linalg.svd(points[keep] - centre, full_matrices=False)
        direction = vt[0]
        residual = np.abs((points - centre) @ perpendicular(direction))
        new_keep = residual <= max(tolerance, float(np.median(residual[keep])) * 2.5)
        if new_keep.sum() < 5 or np.array_equal(new_keep, keep):
            break
        keep = new_keep
    return centre, direction, keep


def endplate_frame(
    body: NDArray[np.bool_],
    disc: NDArray[np.bool_],
    spacing: tuple[float, float],
    anterior: Vec2,
) -> BodyFrame | None:
    """Frame of the body below a disc read from its superior endplate (used for the sacrum).

    ``v`` is the endplate line fitted to the body's pixels touching the disc, ``w`` its normal towards
    the disc; the walls are the body's extent along ``v`` within :data:`SACRUM_BAND_MM` below the line,
    in the connected part that touches the disc (the dorsal sacral plate carries the same label).
    """
    touching = body & ndimage.binary_dilation(disc, structure=np.ones((3, 3), dtype=bool))
    points = pixel_points(touching, spacing)
    if len(points) < 5:
        return None
    centre, direction, keep = _robust_line(points)
    w = perpendicular(direction)
    disc_centroid = pixel_points(disc, spacing).mean(axis=0)
    w = w if (disc_centroid - centre) @ w >= 0 else -w
    v = direction if direction @ anterior >= 0 else -direction
    all_points = pixel_points(body, spacing)
    along_w = (all_points - centre) @ w
    band = np.zeros_like(body)
    jj, ii = np.nonzero(body)
    in_band = (along_w >= -SACRUM_BAND_MM) & (along_w <= 3.0)
    band[jj[in_band], ii[in_band]] = True
    labelled, _ = ndimage.label(band, structure=np.ones((3, 3), dtype=bool))
    seeds = np.unique(labelled[touching & band])
    seeds = seeds[seeds > 0]
    part = np.isin(labelled, seeds)
    part_points = pixel_points(part, spacing)
    if len(part_points) < 6:
        return None
    pv = (part_points - centre) @ v
    pw = (part_points - centre) @ w
    hv, hw = half_pixel(v, spacing), half_pixel(w, spacing)
    del keep
    top = float(pw.max() + hw)
    rough = BodyFrame(
        centre, v, w, float(pv.min() - hv), float(pv.max() + hv), top, top, None, None, _touches_edge(part)
    )
    box = crop_box(part, int(np.ceil(PROFILE_PAD_MM / min(spacing))))
    assert box is not None
    offset = box_offset(box, spacing)
    refined = refine(replace(rough, origin=rough.origin - offset), part[box], spacing)
    return replace(refined, origin=refined.origin + offset)


CORNER_SAMPLES_MM = (1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0)
"""Distances inside a wall at which the endplate is profiled; its line is extrapolated to the wall."""


def _wall(
    frame: BodyFrame, mask: NDArray[np.bool_], spacing: tuple[float, float], side: float, w_lo: float, w_hi: float
) -> float | None:
    """Sub-pixel position along ``v`` of the posterior (``side`` -1) or anterior (+1) wall: the median
    (posterior, a straight wall) or the 90th percentile (anterior, waisted) of profile crossings."""
    inset = 4.0
    start_v = (frame.posterior + inset) if side < 0 else (frame.anterior - inset)
    starts = np.array([frame.point(start_v, float(w)) for w in np.linspace(w_lo, w_hi, 13)])
    distances = exit_distances(mask, starts, frame.v * side, spacing, inset + 6.0)
    hits = [start_v + side * d for d in distances if np.isfinite(d)]
    if len(hits) < 3:
        return None
    hits_arr = np.asarray(hits)
    if side < 0:
        return float(np.median(hits_arr))
    return float(np.percentile(hits_arr, 90))


def _corner(
    frame: BodyFrame,
    mask: NDArray[np.bool_],
    spacing: tuple[float, float],
    v_side: float,
    w_side: float,
    start_w: float,
    reach: float,
) -> float | None:
    """Position along ``w`` of the endplate line at a wall: endplate crossings profiled just inside the
    wall, fitted with a line and extrapolated to the wall (a concave endplate only reaches its line at
    the rim, and a pixel staircase blurs the rim itself)."""
    wall = frame.posterior if v_side < 0 else frame.anterior
    insets = np.asarray(CORNER_SAMPLES_MM)
    starts = np.array([frame.point(wall - v_side * inset, start_w) for inset in insets])
    distances = exit_distances(mask, starts, frame.w * w_side, spacing, reach)
    ok = np.isfinite(distances)
    xs, ys = list(insets[ok]), list(start_w + w_side * distances[ok])
    if len(xs) < 3:
        return None
    x, y = np.asarray(xs), np.asarray(ys)
    slope, intercept = np.polyfit(x, y, 1)
    # A rounded or osteophytic rim (real bodies, a model's mask) bends the profile: extrapolating a steep
    # line would then invent a corner. Keep the outermost measured crossing instead.
    if abs(slope) > 0.35 or abs(intercept - y[np.argmin(x)]) > 1.5:
        return float(y.max() if w_side > 0 else y.min())
    return float(intercept)


def refine(frame: BodyFrame, mask: NDArray[np.bool_], spacing: tuple[float, float]) -> BodyFrame:
    """Move a rough frame's walls and corners to the sub-pixel edges of the mask (profiles on the
    bilinearly interpolated mask); keeps the rough value wherever a profile fails."""
    top = frame.superior_mid
    bottom = frame.inferior_mid
    if bottom is None:  # sacrum: only the top ~12 mm belong to S1's frame
        w_lo, w_hi, mid_w = top - 10.0, top - 2.0, top - 5.0
    else:
        height = top - bottom
        w_lo, w_hi, mid_w = bottom + 0.2 * height, top - 0.2 * height, 0.5 * (top + bottom)
    posterior = _wall(frame, mask, spacing, -1.0, w_lo, w_hi)
    if bottom is None:
        anterior = _wall(frame, mask, spacing, 1.0, w_lo, w_hi)
    else:  # a waisted front reaches its full depth at the endplates
        anterior = _wall(frame, mask, spacing, 1.0, bottom + 1.5, top - 1.5)
    frame = replace(
        frame,
        posterior=frame.posterior if posterior is None else posterior,
        anterior=frame.anterior if anterior is None else anterior,
    )
    reach = (top - mid_w) + 8.0
    corners = {}
    for name, v_side, w_side in (
        ("superior_posterior", -1.0, 1.0),
        ("superior_anterior", 1.0, 1.0),
        ("inferior_posterior", -1.0, -1.0),
        ("inferior_anterior", 1.0, -1.0),
    ):
        if w_side < 0 and bottom is None:
            continue
        value = _corner(frame, mask, spacing, v_side, w_side, mid_w, reach)
        if value is not None:
            corners[name] = value
    return replace(frame, **corners)


@dataclass(frozen=True)
class LevelGeometry:
    """Everything of a level on one slice that the measurements start from."""

    slice_index: int
    upper: BodyFrame
    lower: BodyFrame
    centre: Vec2
    """Disc centre: midpoint of the upper body's inferior and the lower body's superior endplate centres."""
    v: Vec2
    """Disc AP axis (anterior), perpendicular to ``w``."""
    w: Vec2
    """Disc cranio-caudal axis (superior): the mean of the two bodies' axes."""

    @property
    def wall_direction(self) -> Vec2:
        """Unit direction of the posterior-wall line, from the lower body's corner to the upper's."""
        return unit(self.upper.posterior_inferior - self.lower.posterior_superior)

    @property
    def back(self) -> Vec2:
        """Unit direction perpendicular to the posterior-wall line, pointing into the canal."""
        wall = self.wall_direction
        back = -self.v - wall * float(-self.v @ wall)
        return unit(back)


def disc_axis(disc: NDArray[np.bool_], spacing: tuple[float, float]) -> Vec2 | None:
    """The disc's thin axis on a slice (minor principal axis of its pixels), sign left to the caller.

    It tells a body's endplates from its walls better than the line between the two bodies' centres,
    which a high-grade slip turns by 40 degrees; lumbar bodies are nearly square, so their own shape
    cannot tell either."""
    points = pixel_points(largest_component(disc), spacing)
    if len(points) < 10:
        return None
    _, values, vt = np.linalg.svd(points - points.mean(axis=0), full_matrices=False)
    if values[1] <= 0 or values[0] / values[1] < 1.5:
        return None
    return vt[1]


def level_geometry(
    slice_labels: NDArray[np.integer],
    upper_label: int,
    disc_label: int,
    lower_label: int,
    spacing: tuple[float, float],
    anterior: Vec2,
    superior: Vec2,
    slice_index: int,
    lower_is_sacrum: bool,
) -> LevelGeometry | None:
    """The level's geometry on one slice, or None when a body or the disc is missing there."""
    up_mask = slice_labels == upper_label
    lo_mask = slice_labels == lower_label
    disc_mask = slice_labels == disc_label
    if up_mask.sum() < 6 or lo_mask.sum() < 6 or disc_mask.sum() < 3:
        return None
    up_c = pixel_points(largest_component(up_mask), spacing).mean(axis=0)
    lo_c = pixel_points(largest_component(lo_mask), spacing).mean(axis=0)
    hint = disc_axis(disc_mask, spacing)
    if hint is None:
        hint = up_c - lo_c
        hint = unit(hint) if np.linalg.norm(hint) > 1 else superior
    hint = hint if hint @ (up_c - lo_c) >= 0 else -hint
    if hint @ superior < 0:  # a label map upside down relative to its names: trust the names
        hint = superior
    upper = body_frame(up_mask, spacing, anterior, hint)
    if lower_is_sacrum:
        lower = endplate_frame(lo_mask, disc_mask, spacing, anterior)
    else:
        lower = body_frame(lo_mask, spacing, anterior, hint)
    if upper is None or lower is None or upper.inferior_mid is None:
        return None
    if upper.truncated != lower.truncated:
        # A body cut by the edge of the image has no trustworthy rectangle: take the disc's axes from the
        # whole one and its centre half-way along the disc's run from that body's endplate.
        whole = lower if upper.truncated else upper
        w, v = whole.w, whole.v
        start = whole.superior_centre if whole is lower else whole.inferior_centre
        step = w if whole is lower else -w
        length, t_lo, t_hi = run_through(disc_mask, start + step * 0.7, step, spacing, reach=25.0)
        centre = start + step * (0.7 + 0.5 * (t_lo + t_hi)) if length > 0 else start + step * 3.0
        return LevelGeometry(slice_index, upper, lower, centre, v, w)
    w = unit(upper.w + lower.w)
    v = perpendicular(w)
    v = v if v @ (upper.v + lower.v) >= 0 else -v
    centre = 0.5 * (upper.inferior_centre + lower.superior_centre)
    return LevelGeometry(slice_index, upper, lower, centre, v, w)
