"""The parasagittal view of one vertebra, resampled into a fixed patch for the rib classifier.

Why a patch per vertebra rather than a rib class in the segmentation network: a rib and a lumbar transverse
process look alike on any one parasagittal slice (a round bony section behind and beside the body); what
differs is the run across slices, a rib's neck joining the back of the body where a lumbar vertebra has
a gap before its transverse process, and the rib carrying on outwards. A 2-D network sees one slice at a
time and coloured lumbar transverse processes as rib (round 14). The patch stacks the slices beside one
vertebra at fixed lateral distances from its centre, in the vertebra's own frame (along the column and
across it), so a small network sees the whole lateral run at once and every vertebra the same way.

Plain numpy on the working grid (axis 0 towards patient left, rows towards the feet, columns towards the
back; see :mod:`pipeline.preprocess`); no network, no DICOM.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from pipeline.instances import _spine_axis

#: Lateral distances (mm) from the body's centre at which each side is sampled: the body's own edge out to
#: where a rib is past its angle. A series narrower than this leaves the outer planes empty (mask 0).
LATERAL_MM: tuple[float, ...] = tuple(float(x) for x in range(8, 49, 4))
#: Along the column (mm, head to feet) and across it (mm, front to back) around the body's centre.
ALONG_MM: tuple[float, float] = (-30.0, 30.0)
ACROSS_MM: tuple[float, float] = (-20.0, 60.0)
STEP_MM = 2.0
#: Channels per side: one image plane per lateral distance, then one coverage mask per lateral distance.
CHANNELS = 2 * len(LATERAL_MM)


def patch_shape() -> tuple[int, int, int]:
    """(channels, along, across) of one side's patch."""
    along = round((ALONG_MM[1] - ALONG_MM[0]) / STEP_MM) + 1
    across = round((ACROSS_MM[1] - ACROSS_MM[0]) / STEP_MM) + 1
    return CHANNELS, along, across


def vertebra_patches(
    image: NDArray[np.float32],
    spacing: Sequence[float],
    centers_mm: Sequence[NDArray[np.float64]],
) -> NDArray[np.float32]:
    """Both sides' patches of every vertebra: ``(vertebrae, 2, channels, along, across)``.

    ``centers_mm`` are the body centres on the working grid (mm, head to feet; the sacrum may be among
    them, it only steers the column's direction). Side 0 is the patient's left (towards higher slice
    index), side 1 the right. Planes outside the slab are zero with a zero mask, so the network knows a
    missing rib from a missing slice.
    """
    sp = np.asarray(spacing, dtype=np.float64)
    points = [np.asarray(c, dtype=np.float64) for c in centers_mm]
    _, n_along, n_across = patch_shape()
    t = np.linspace(ALONG_MM[0], ALONG_MM[1], n_along)
    p = np.linspace(ACROSS_MM[0], ACROSS_MM[1], n_across)
    tt, pp = np.meshgrid(t, p, indexing="ij")
    n_lat = len(LATERAL_MM)
    out = np.zeros((len(points), 2, CHANNELS, n_along, n_across), dtype=np.float32)
    for i, centre in enumerate(points):
        axis = _spine_axis(points, i)[1:]  # (rows, cols) unit vector, head to feet
        across = np.array([-axis[1], axis[0]])  # perpendicular, pointing back when the column runs down
        if across[1] < 0:
            across = -across
        rows_mm = centre[1] + tt * axis[0] + pp * across[0]
        cols_mm = centre[2] + tt * axis[1] + pp * across[1]
        r = rows_mm / sp[1]
        c = cols_mm / sp[2]
        inside = (r >= 0) & (r <= image.shape[1] - 1) & (c >= 0) & (c <= image.shape[2] - 1)
        for side, sign in enumerate((1.0, -1.0)):
            for k, lateral in enumerate(LATERAL_MM):
                s = (centre[0] + sign * lateral) / sp[0]
                if s < 0 or s > image.shape[0] - 1:
                    continue
                coords = np.stack([np.full_like(r, s), r, c])
                plane = ndimage.map_coordinates(image, coords, order=1, mode="constant", cval=0.0)
                out[i, side, k] = np.where(inside, plane, 0.0)
                out[i, side, n_lat + k] = inside
    return out
