"""Measurements on a label map, done the way a grader would, to check the phantom's truth against.

They only use the label map, the Volume geometry and the truth's reference points and axes (where to
look), never the generator's internals.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from pipeline.volume import Volume

STEP = 0.05


def slice_through(volume: Volume, point_lps: NDArray) -> int:
    """Index of the slice nearest to a point."""
    return int(np.clip(np.round(volume.lps_to_index(point_lps)[0]), 0, volume.shape[0] - 1))


def in_plane(volume: Volume, vector: NDArray) -> NDArray:
    """A direction projected into the slice plane, unit length."""
    normal = volume.direction[:, 0]
    vector = np.asarray(vector, dtype=float) - normal * (normal @ vector)
    return vector / np.linalg.norm(vector)


def sample_line(volume: Volume, labels: NDArray, k: int, start: NDArray, direction: NDArray, length: float):
    """Nearest-neighbour labels along a line in slice ``k`` (the line is projected into the slice)."""
    t = np.arange(0.0, length, STEP)
    points = np.asarray(start, dtype=float)[None] + t[:, None] * in_plane(volume, direction)[None]
    index = volume.lps_to_index(points)
    j = np.clip(np.round(index[:, 1]).astype(int), 0, volume.shape[1] - 1)
    i = np.clip(np.round(index[:, 2]).astype(int), 0, volume.shape[2] - 1)
    return t, labels[k, j, i]


def first_run(t: NDArray, values: NDArray, wanted: set[int]) -> tuple[float, float] | None:
    """Start and end (mm along the line) of the first run of ``wanted`` labels, edges at mid-steps."""
    hit = np.isin(values, list(wanted))
    idx = np.flatnonzero(hit)
    if idx.size == 0:
        return None
    first = int(idx[0])
    misses = np.flatnonzero(~hit[first:])
    last = first + (int(misses[0]) if misses.size else hit.size - first)
    return t[first] - STEP / 2, t[last - 1] + STEP / 2


def wall_point(volume: Volume, labels: NDArray, k: int, label: int, point: NDArray, anterior: NDArray) -> NDArray:
    """Where a line along ``anterior`` through ``point`` first enters ``label`` (the posterior wall)."""
    start = np.asarray(point) - 12.0 * in_plane(volume, anterior)
    t, values = sample_line(volume, labels, k, start, anterior, 24.0)
    run = first_run(t, values, {label})
    assert run is not None, f"label {label} not found near {point}"
    return start + run[0] * in_plane(volume, anterior)


def posterior_wall_slip(volume: Volume, labels: NDArray, truth: dict, level: str) -> float:
    """Slip by the posterior-wall method on the label map (pipeline.definitions.slip_percent)."""
    disc = next(d for d in truth["discs"] if d["level"] == level)
    verts = {v["name"]: v for v in truth["vertebrae"]}
    up, lo = verts[disc["upper"]], verts[disc["lower"]]
    k = slice_through(volume, np.array(disc["center_lps"]))
    walls = {}
    for name, vert, corner, sign in (
        (disc["upper"], up, "posterior_inferior_corner_lps", 1.0),
        (disc["lower"], lo, "posterior_superior_corner_lps", -1.0),
    ):
        sup = np.array(vert["axes_lps"]["superior"])
        ant = np.array(vert["axes_lps"]["anterior"])
        c = np.array(vert[corner])
        p1 = wall_point(volume, labels, k, vert["label"], c + sign * 4.0 * sup, ant)
        p2 = wall_point(volume, labels, k, vert["label"], c + sign * 9.0 * sup, ant)
        # extrapolate the wall line to the endplate level (s = 0)
        walls[name] = p1 + (p1 - p2) * (4.0 / 5.0)
    ant_lo = in_plane(volume, np.array(lo["axes_lps"]["anterior"]))
    return float((walls[disc["upper"]] - walls[disc["lower"]]) @ ant_lo)


def canal_ap(volume: Volume, labels: NDArray, truth: dict, level: str, canal_labels: set[int]) -> float:
    """Dural-sac AP diameter at a disc level (pipeline.definitions.stenosis_grade).

    Five parallel lines within +-0.5 mm of the disc centre (cranio-caudally) are averaged, as the
    definition says, which also dithers away the pixel quantisation of a single line; the sac mask is
    interpolated linearly (also between slices) and cut at 0.5, so a line between two slices is measured
    where it lies.
    """
    disc = next(d for d in truth["discs"] if d["level"] == level)
    centre = np.array(disc["center_lps"])
    direction = -np.array(disc["axes_lps"]["anterior"])
    superior = np.array(disc["axes_lps"]["superior"])
    mask = np.isin(labels, list(canal_labels)).astype(np.float32)
    t = np.arange(0.0, 45.0, STEP)
    lengths = []
    for offset in (-0.5, -0.25, 0.0, 0.25, 0.5):
        start = centre + offset * superior
        index = volume.lps_to_index(start[None] + t[:, None] * direction[None])
        values = ndimage.map_coordinates(mask, index.T, order=1, mode="nearest") >= 0.5
        hit = np.concatenate([[False], values, [False]])
        edges = np.flatnonzero(np.diff(hit.astype(np.int8)))
        lengths.append(0.0 if edges.size == 0 else float((edges[1::2] - edges[0::2]).max() * STEP))
    return float(np.mean(lengths))


def centroid_lps(volume: Volume, labels: NDArray, label: int) -> NDArray | None:
    index = np.argwhere(labels == label)
    if index.size == 0:
        return None
    return volume.index_to_lps(index.mean(axis=0))


def touches_border(labels: NDArray, label: int) -> bool:
    mask = labels == label
    return bool(
        mask[0].any()
        or mask[-1].any()
        or mask[:, 0].any()
        or mask[:, -1].any()
        or mask[:, :, 0].any()
        or mask[:, :, -1].any()
    )


def herniation_extent(volume: Volume, labels: NDArray, truth: dict, level: str) -> float:
    """Largest distance of disc label behind the posterior-wall line, on the disc's mid-sagittal plane
    (pipeline.definitions.herniation_class). The disc mask is interpolated linearly and cut at 0.5."""
    disc = next(d for d in truth["discs"] if d["level"] == level)
    p_up = np.array(disc["posterior_inferior_corner_upper_lps"])
    p_lo = np.array(disc["posterior_superior_corner_lower_lps"])
    wall = (p_up - p_lo) / np.linalg.norm(p_up - p_lo)
    back = -np.array(disc["axes_lps"]["anterior"])
    back = back - wall * (back @ wall)
    back /= np.linalg.norm(back)
    along = np.arange(-25.0, 25.0, 0.1)
    behind = np.arange(-2.0, 22.0, 0.05)
    mid = 0.5 * (p_up + p_lo)
    points = mid[None, None] + along[:, None, None] * wall + behind[None, :, None] * back
    index = volume.lps_to_index(points.reshape(-1, 3))
    mask = (labels == disc["label"]).astype(np.float32)
    inside = ndimage.map_coordinates(mask, index.T, order=1, mode="constant").reshape(points.shape[:2]) >= 0.5
    columns = np.flatnonzero(inside.any(axis=0))
    return float(max(behind[columns[-1]], 0.0)) if columns.size else 0.0
