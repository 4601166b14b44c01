"""Sagittal-slice primitives: millimetre coordinates, mask sampling along lines, minimum-area rectangles.

Slices are thick (3-5 mm) and pixels fine (0.4-1.2 mm), so every measurement is made in the plane of a
slice, in millimetres, and never along the slice axis. A slice's 2-D coordinates are ``(y, x)`` =
(row index x row spacing, column index x column spacing); anatomical directions in that plane come from
the volume's direction cosines (:func:`inplane_directions`), so no measurement depends on whether rows
run anterior->posterior or the slices left->right.

Lengths along a line are measured like the truth measures them: the run of a label through a point,
with the boundary at the 0.5 crossing of the bilinearly interpolated binary mask, i.e. half-way between
the last pixel inside and the first outside, which is unbiased for a point-sampled label map.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError

from pipeline.volume import Volume

Vec2 = NDArray[np.float64]
ANTERIOR_LPS = np.array([0.0, -1.0, 0.0])
SUPERIOR_LPS = np.array([0.0, 0.0, 1.0])


def inplane_directions(volume: Volume) -> tuple[Vec2, Vec2]:
    """Unit 2-D vectors (in ``(y, x)`` slice millimetres) pointing anterior and superior.

    The superior one is the projection of patient superior onto the slice plane; anterior is made
    orthogonal to it, so the pair is orthonormal even on an oblique plane.
    """
    d1, d2 = volume.direction[:, 1], volume.direction[:, 2]
    sup = np.array([SUPERIOR_LPS @ d1, SUPERIOR_LPS @ d2])
    ant = np.array([ANTERIOR_LPS @ d1, ANTERIOR_LPS @ d2])
    if np.linalg.norm(sup) < 0.3 or np.linalg.norm(ant) < 0.3:
        raise ValueError("the series is not sagittal: its slices contain neither the AP nor the SI axis")
    sup = sup / np.linalg.norm(sup)
    ant = ant - sup * (ant @ sup)
    return ant / np.linalg.norm(ant), sup


def slice_to_lps(volume: Volume, k: float, points: NDArray[np.float64]) -> NDArray[np.float64]:
    """LPS positions of 2-D slice millimetre points ``(y, x)`` on slice ``k`` (fractional allowed)."""
    points = np.atleast_2d(points)
    base = volume.origin + volume.direction[:, 0] * volume.spacing[0] * k
    return base + points[:, :1] * volume.direction[:, 1] + points[:, 1:2] * volume.direction[:, 2]


def pixel_points(mask: NDArray[np.bool_], spacing: tuple[float, float]) -> NDArray[np.float64]:
    """Millimetre ``(y, x)`` centres of the True pixels of a 2-D mask."""
    jj, ii = np.nonzero(mask)
    return np.column_stack([jj * spacing[0], ii * spacing[1]]).astype(np.float64)


def half_pixel(direction: Vec2, spacing: tuple[float, float]) -> float:
    """Half the extent of one pixel along a unit direction (to move from a pixel centre to its edge)."""
    return 0.5 * (abs(direction[0]) * spacing[0] + abs(direction[1]) * spacing[1])


def sample(mask: NDArray, points: NDArray[np.float64], spacing: tuple[float, float]) -> NDArray[np.float64]:
    """Bilinear samples of a 2-D array at millimetre points (0 outside the slice)."""
    coords = np.vstack([points[:, 0] / spacing[0], points[:, 1] / spacing[1]])
    return ndimage.map_coordinates(np.asarray(mask, dtype=np.float32), coords, order=1, mode="constant", cval=0.0)


def crossing(values: NDArray[np.float64], a: int, b: int) -> float:
    """Fractional position between samples ``a`` and ``b`` where the profile crosses 0.5."""
    va, vb = values[a], values[b]
    if va == vb:
        return 0.5 * (a + b)
    return a + (0.5 - va) / (vb - va) * (b - a)


def run_through(
    mask: NDArray,
    centre: Vec2,
    direction: Vec2,
    spacing: tuple[float, float],
    reach: float = 40.0,
    step: float = 0.05,
) -> tuple[float, float, float]:
    """Length (mm) of the run of ``mask`` through ``centre`` along ``direction`` and its two ends.

    Returns ``(length, t_lo, t_hi)`` with the ends as signed distances from ``centre``; all zero when the
    centre is outside the mask. The run is the truth's ``centred_run``.
    """
    t = np.arange(-reach, reach + step / 2, step)
    values = sample(mask, centre + np.outer(t, direction), spacing)
    mid = t.size // 2
    if values[mid] < 0.5:
        # the centre may sit in a one-pixel notch (a dark cleft in a model's mask): accept the nearest hit
        near = np.flatnonzero(values >= 0.5)
        if near.size == 0 or abs(near - mid).min() * step > 1.0:
            return 0.0, 0.0, 0.0
        mid = int(near[np.argmin(abs(near - mid))])
    inside = values >= 0.5
    before = np.flatnonzero(~inside[:mid])
    after = np.flatnonzero(~inside[mid:])
    lo = crossing(values, int(before[-1]), int(before[-1]) + 1) if before.size else 0.0
    hi = crossing(values, mid + int(after[0]) - 1, mid + int(after[0])) if after.size else t.size - 1.0
    t_lo, t_hi = -reach + lo * step, -reach + hi * step
    return t_hi - t_lo, t_lo, t_hi


def first_run(
    mask: NDArray,
    start: Vec2,
    direction: Vec2,
    spacing: tuple[float, float],
    length: float = 70.0,
    step: float = 0.05,
) -> tuple[float, float]:
    """Length (mm) of the first run of ``mask`` met from ``start`` along ``direction``, and where it starts
    (distance from ``start``); ``(0, -1)`` if none. This is the truth's ``run_length``."""
    t = np.arange(0.0, length + step / 2, step)
    values = sample(mask, start + np.outer(t, direction), spacing)
    inside = values >= 0.5
    idx = np.flatnonzero(inside)
    if idx.size == 0:
        return 0.0, -1.0
    first = int(idx[0])
    begin = crossing(values, first - 1, first) if first > 0 else 0.0
    misses = np.flatnonzero(~inside[first:])
    end = crossing(values, first + int(misses[0]) - 1, first + int(misses[0])) if misses.size else t.size - 1.0
    return (end - begin) * step, begin * step


def longest_run(
    mask: NDArray,
    start: Vec2,
    direction: Vec2,
    spacing: tuple[float, float],
    length: float = 45.0,
    step: float = 0.05,
) -> float:
    """Length (mm) of the longest run of ``mask`` on the segment from ``start`` along ``direction``
    (0.5 crossings interpolated; the truth's ``longest_run``)."""
    t = np.arange(0.0, length + step / 2, step)
    values = sample(mask, start + np.outer(t, direction), spacing)
    inside = values >= 0.5
    padded = np.concatenate([[False], inside, [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    best = 0.0
    for first, stop in zip(edges[0::2], edges[1::2], strict=True):
        begin = crossing(values, first - 1, first) if first > 0 else 0.0
        end = crossing(values, stop - 1, stop) if stop < t.size else t.size - 1.0
        best = max(best, (end - begin) * step)
    return best


def exit_distance(
    mask: NDArray,
    start: Vec2,
    direction: Vec2,
    spacing: tuple[float, float],
    length: float,
    step: float = 0.05,
) -> float | None:
    """Distance from an inside point to where the mask is left along ``direction`` (0.5 crossing), or
    None when the start is outside or the mask is not left within ``length``."""
    t = np.arange(0.0, length + step / 2, step)
    values = sample(mask, start + np.outer(t, direction), spacing)
    if values[0] < 0.5:
        return None
    out = np.flatnonzero(values < 0.5)
    if out.size == 0:
        return None
    return crossing(values, int(out[0]) - 1, int(out[0])) * step


def exit_distances(
    mask: NDArray,
    starts: NDArray[np.float64],
    direction: Vec2,
    spacing: tuple[float, float],
    length: float,
    step: float = 0.05,
) -> NDArray[np.float64]:
    """:func:`exit_distance` for many start points at once (NaN where it has no answer)."""
    t = np.arange(0.0, length + step / 2, step)
    grid = starts[:, None, :] + t[None, :, None] * direction
    values = sample(mask, grid.reshape(-1, 2), spacing).reshape(len(starts), t.size)
    out = np.full(len(starts), np.nan)
    outside = values < 0.5
    leave = np.argmax(outside, axis=1)
    ok = ~outside[:, 0] & outside.any(axis=1)
    rows = np.flatnonzero(ok)
    a, b = values[rows, leave[rows] - 1], values[rows, leave[rows]]
    fraction = np.where(a != b, (0.5 - a) / np.where(a != b, b - a, 1.0), 0.5)
    out[rows] = (leave[rows] - 1 + fraction) * step
    return out


def min_area_rectangle(points: NDArray[np.float64]) -> tuple[Vec2, Vec2, Vec2, float, float] | None:
    """Minimum-area enclosing rectangle of 2-D points: ``(centre, axis_a, axis_b, half_a, half_b)``.

    Rotating calipers over the convex hull's edge directions (the optimal rectangle has a side on the
    hull). A vertebral body cut mid-sagittally is a rectangle with concave endplates, so the enclosing
    rectangle's sides are its walls and endplate lines and its corners the body's corners.
    """
    if len(points) < 4:
        return None
    try:
        hull = points[ConvexHull(points).vertices]
    except QhullError:
        return None
    edges = np.diff(np.vstack([hull, hull[:1]]), axis=0)
    lengths = np.linalg.norm(edges, axis=1)
    edges = edges[lengths > 1e-9] / lengths[lengths > 1e-9, None]
    best: tuple[float, Vec2, Vec2, NDArray, NDArray] | None = None
    for a in edges:
        b = np.array([-a[1], a[0]])
        pa, pb = hull @ a, hull @ b
        area = (pa.max() - pa.min()) * (pb.max() - pb.min())
        if best is None or area < best[0]:
            best = (area, a, b, np.array([pa.min(), pa.max()]), np.array([pb.min(), pb.max()]))
    assert best is not None
    _, a, b, ra, rb = best
    centre = a * ra.mean() + b * rb.mean()
    return centre, a, b, float(np.ptp(ra) / 2), float(np.ptp(rb) / 2)


def pixel_square_corners(points: NDArray[np.float64], spacing: tuple[float, float]) -> NDArray[np.float64]:
    """The four corners of every pixel (its square), so a hull encloses the pixels, not their centres."""
    hy, hx = spacing[0] / 2, spacing[1] / 2
    offsets = np.array([[-hy, -hx], [-hy, hx], [hy, -hx], [hy, hx]])
    return (points[:, None, :] + offsets[None]).reshape(-1, 2)


def crop_box(mask: NDArray[np.bool_], pad: int) -> tuple[slice, slice] | None:
    """Bounding box of a 2-D mask grown by ``pad`` pixels (clipped), None when the mask is empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return (
        slice(max(int(rows[0]) - pad, 0), min(int(rows[-1]) + pad + 1, mask.shape[0])),
        slice(max(int(cols[0]) - pad, 0), min(int(cols[-1]) + pad + 1, mask.shape[1])),
    )


def box_offset(box: tuple[slice, slice], spacing: tuple[float, float]) -> Vec2:
    """Millimetre position of a crop's first pixel (add it to crop coordinates to get slice ones)."""
    return np.array([box[0].start * spacing[0], box[1].start * spacing[1]], dtype=np.float64)


def largest_component(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """The largest 8-connected component of a 2-D mask, holes filled (a model's mask may be ragged)."""
    box = crop_box(mask, 1)
    if box is None:
        return mask.astype(bool)
    out = np.zeros(mask.shape, dtype=bool)
    out[box] = _largest_component(mask[box])
    return out


def _largest_component(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    labelled, n = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    if n == 0:
        return mask.astype(bool)
    if n > 1:
        sizes = ndimage.sum_labels(mask, labelled, index=np.arange(1, n + 1))
        mask = labelled == (int(np.argmax(sizes)) + 1)
    return ndimage.binary_fill_holes(mask)


def perpendicular(direction: Vec2) -> Vec2:
    """A unit vector perpendicular to a 2-D direction (sign left to the caller)."""
    return np.array([-direction[1], direction[0]])


def unit(vector: NDArray[np.float64]) -> NDArray[np.float64]:
    norm = float(np.linalg.norm(vector))
    if norm == 0:
        raise ValueError("zero-length direction")
    return vector / norm
