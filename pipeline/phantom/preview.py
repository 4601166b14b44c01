"""A mid-sagittal preview (RGB array) of a case with its labels outlined, for eyes, docs and QC.

Displayed the way radiologists read sagittal spine images: head up, anterior to the left, whatever
the stored row direction.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from pipeline.labels import CANAL, COCCYX, CORD, SACRUM, is_disc, is_vertebra
from pipeline.volume import Volume


def mid_slice_index(volume: Volume, labels: NDArray[np.uint8] | None = None) -> int:
    """The slice holding most of the canal (the mid-sagittal one), or the middle slice."""
    if labels is not None:
        counts = ((labels == CANAL) | (labels == CORD)).sum(axis=(1, 2))
        if counts.max() > 0:
            return int(np.argmax(counts))
    return volume.shape[0] // 2


def display_slice(volume: Volume, array: NDArray, k: int) -> NDArray:
    """Slice ``k`` of ``array`` oriented head up, anterior left (rotations only, no resampling)."""
    image = array[k]
    col = volume.direction[:, 1]  # down the rows
    row = volume.direction[:, 2]  # along a row
    if col[2] > 0:  # rows run towards the head: flip so the head is up
        image = image[::-1]
    if row[1] < 0:  # row direction anterior: flip so anterior is on the left
        image = image[:, ::-1]
    return image


def window(image: NDArray, low_pct: float = 1.0, high_pct: float = 99.5) -> NDArray[np.uint8]:
    """Percentile window to 8 bit, the way a viewer's auto-window does."""
    lo, hi = np.percentile(image, [low_pct, high_pct])
    return (np.clip((image - lo) / max(hi - lo, 1e-6), 0, 1) * 255).astype(np.uint8)


def _colour(label: int) -> tuple[int, int, int]:
    if label == CANAL:
        return (60, 160, 255)
    if label == CORD:
        return (255, 220, 0)
    if label in (SACRUM, COCCYX):
        return (255, 120, 0)
    if is_vertebra(label):
        return (255, 60, 60) if label % 2 else (60, 220, 90)
    if is_disc(label):
        return (220, 80, 255)
    return (200, 200, 200)


def preview(volume: Volume, labels: NDArray[np.uint8] | None = None, outline: bool = True) -> NDArray[np.uint8]:
    """RGB uint8 mid-sagittal preview at square pixels; label outlines drawn when ``labels`` is given."""
    k = mid_slice_index(volume, labels)
    grey = window(display_slice(volume, volume.array, k))
    rgb = np.repeat(grey[..., None], 3, axis=2)
    if labels is not None and outline:
        lab = display_slice(volume, labels, k)
        edges = lab != ndimage.grey_erosion(lab, size=3)
        for value in np.unique(lab[edges]):
            if value == 0:
                continue
            rgb[edges & (lab == value)] = _colour(int(value))
    return rgb
