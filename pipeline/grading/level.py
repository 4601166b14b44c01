"""Measure one disc level in a volume: pick its slices, build its geometry, collect its numbers.

The level's geometry (corners, disc frame) is read on the slice nearest the disc's centroid; the canal
diameter and the herniation depth, which peak in the midline, on the three slices around the canal's
own centroid (the midline behind the disc, which an oblique plane moves away from the disc's), and
interpolated to it (:mod:`pipeline.grading.midline`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from pipeline.grading import measure
from pipeline.grading.geometry import LevelGeometry, level_geometry
from pipeline.grading.midline import midline_value
from pipeline.grading.plane import Vec2
from pipeline.labels import CANAL, CORD
from pipeline.volume import Volume

CANAL_SLAB_MM = 8.0
"""Half height (along the disc axis) of the slab of canal voxels whose centroid marks the midline."""


@dataclass
class LevelMeasures:
    """The numbers of one level (None where the label map cannot support them) and why not."""

    slice_index: int | None = None
    geometry: LevelGeometry | None = None
    disc_heights: dict[str, float] = field(default_factory=dict)
    upper_body_heights: dict[str, float] = field(default_factory=dict)
    slip_mm: float | None = None
    lower_endplate_mm: float | None = None
    canal_ap_mm: float | None = None
    herniation_extent_mm: float | None = None
    migration_mm: float | None = None
    midline_slice: float | None = None
    notes: dict[str, str] = field(default_factory=dict)


def _touches_edge(mask: NDArray[np.bool_]) -> bool:
    return bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())


def disc_slice(labels: NDArray[np.integer], disc_label: int) -> float | None:
    """Fractional slice index of the disc's centroid (its midline), None when the disc is absent."""
    counts = np.count_nonzero(labels == disc_label, axis=(1, 2))
    if counts.sum() == 0:
        return None
    return float((np.arange(labels.shape[0]) * counts).sum() / counts.sum())


def _geometry_near(
    labels: NDArray[np.integer],
    k_target: float,
    labels_of_level: tuple[int, int, int],
    spacing2: tuple[float, float],
    anterior: Vec2,
    superior: Vec2,
    lower_is_sacrum: bool,
) -> LevelGeometry | None:
    order = np.argsort(np.abs(np.arange(labels.shape[0]) - k_target))
    for k in order[:3]:
        geo = level_geometry(labels[k], *labels_of_level, spacing2, anterior, superior, int(k), lower_is_sacrum)
        if geo is not None:
            return geo
    return None


def canal_midline(labels: NDArray[np.integer], geo: LevelGeometry, spacing2: tuple[float, float]) -> float | None:
    """Fractional slice index of the centroid of the canal voxels behind the disc (within a thin slab)."""
    canal = (labels == CANAL) | (labels == CORD)
    kk, jj, ii = np.nonzero(canal)
    if kk.size == 0:
        return None
    points = np.column_stack([jj * spacing2[0], ii * spacing2[1]])
    rel = points - geo.centre
    near = (np.abs(rel @ geo.w) <= CANAL_SLAB_MM) & ((rel @ -geo.v) > 0) & ((rel @ -geo.v) < 80.0)
    if not near.any():
        return None
    return float(kk[near].mean())


def measure_level(
    volume: Volume,
    labels: NDArray[np.integer],
    upper_label: int,
    disc_label: int,
    lower_label: int,
    anterior: Vec2,
    superior: Vec2,
    lower_is_sacrum: bool,
) -> LevelMeasures:
    """All geometric measurements of one level from the label map (no image intensities)."""
    out = LevelMeasures()
    spacing2 = (volume.spacing[1], volume.spacing[2])
    k_disc = disc_slice(labels, disc_label)
    if k_disc is None:
        out.notes["all"] = "the disc is not in the label map"
        return out
    trio = (upper_label, disc_label, lower_label)
    geo = _geometry_near(labels, k_disc, trio, spacing2, anterior, superior, lower_is_sacrum)
    if geo is None:
        out.notes["all"] = "the vertebrae on both sides of the disc are not both in the midline slices"
        return out
    k = geo.slice_index
    disc = labels[k] == disc_label
    if (geo.upper.truncated and geo.lower.truncated) or _touches_edge(disc):
        out.notes["all"] = "the disc or both its vertebrae are cut by the edge of the image"
        return out
    out.geometry, out.slice_index = geo, geo.slice_index
    truncated = geo.upper.truncated or geo.lower.truncated
    if truncated:
        out.notes["geometry"] = "a vertebra of this level is cut by the edge of the image"
    else:
        out.disc_heights = measure.disc_heights(geo, disc, spacing2)
        out.upper_body_heights = measure.body_heights(geo.upper, labels[k] == upper_label, spacing2)
        out.slip_mm, out.lower_endplate_mm = measure.slip(geo)

    k_mid = canal_midline(labels, geo, spacing2)
    if k_mid is None:
        out.notes["canal"] = "no canal label behind the disc"
        k_mid = k_disc
    out.midline_slice = k_mid
    positions, aps, extents, migrations = [], [], [], []
    n = labels.shape[0]
    for kk in sorted(
        {int(np.clip(np.floor(k_mid) + d, 0, n - 1)) for d in (-1, 0, 1, 2)}, key=lambda s: abs(s - k_mid)
    )[:3]:
        g = geo if kk == k else level_geometry(labels[kk], *trio, spacing2, anterior, superior, kk, lower_is_sacrum)
        if g is None:
            continue
        canal = (labels[kk] == CANAL) | (labels[kk] == CORD)
        positions.append(float(kk))
        aps.append(measure.canal_ap(g, canal, spacing2))
        extent, migration = measure.herniation(g, labels[kk] == disc_label, spacing2)
        extents.append(extent)
        migrations.append(migration)
    if positions and "canal" not in out.notes and max(aps) > 0:
        out.canal_ap_mm = midline_value(positions, aps, k_mid, squared=True)
    elif "canal" not in out.notes:
        out.notes["canal"] = "no canal label behind the disc"
    if positions and not truncated:
        out.herniation_extent_mm = midline_value(positions, extents, k_mid)
        nearest = int(np.argmin(np.abs(np.asarray(positions) - k_mid)))
        out.migration_mm = migrations[nearest]
    return out
