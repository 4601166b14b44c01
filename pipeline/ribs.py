"""Which vertebrae carry a rib: the evidence that tells T12 from L1 in a view without C2.

Why: counted up from the sacrum, a sixth lumbar vertebra is named L5 and every name above it is one
level off; nothing along the column itself shows it. The ribs do: a thoracic vertebra has one on each
side, a lumbar one has transverse processes and no rib. A network with the rib class (trained with
``python -m pipeline.train --ribs``) colours them on the parasagittal slices; each rib component is given
to the vertebra it lies level with, and :func:`pipeline.levels.name_vertebrae` uses the pattern (ribbed,
ribbed, then rib-less down to the sacrum) as a second count.

Plain numpy on the working grid, like :mod:`pipeline.instances`; no network, no DICOM.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from pipeline.instances import _spine_axis

#: Rib components smaller than this (mm3) are specks, not ribs.
MIN_RIB_MM3 = 30.0
#: A vertebra carries a rib when the rib bone given to it is at least this share of the median over the
#: vertebrae given any (what a rib looks like in this series); below a tenth of it, it carries none.
RIB_SHARE = 0.25
NO_RIB_SHARE = 0.1
#: A rib lies behind and beside its body, within this distance (mm) of the body's centre in the sagittal
#: plane; a component further from every vertebra is given to none.
MAX_REACH_MM = 90.0


def rib_voxels_per_vertebra(
    rib_mask: NDArray[np.bool_], centers_mm: Sequence[NDArray[np.float64]], spacing: Sequence[float]
) -> NDArray[np.float64]:
    """Rib voxels given to each vertebra (by the level each rib component lies at along the column).

    ``centers_mm`` are the vertebra centres (working-grid mm, head to feet, sacrum included so that
    bone beside the sacrum is not given to L5). A component goes to the vertebra whose level along the
    column (the line through its neighbours' centres, in the sagittal plane) is nearest to its centre.
    """
    n = len(centers_mm)
    out = np.zeros(n)
    if n == 0 or not rib_mask.any():
        return out
    sp = np.asarray(spacing, dtype=np.float64)
    min_voxels = max(1, int(MIN_RIB_MM3 / float(np.prod(sp))))
    labelled, count = ndimage.label(rib_mask)
    if count == 0:
        return out
    index = np.arange(1, count + 1)
    sizes = ndimage.sum_labels(np.ones_like(labelled), labelled, index=index)
    centres = np.asarray(ndimage.center_of_mass(rib_mask, labelled, index)) * sp
    points = np.asarray(centers_mm, dtype=np.float64).reshape(n, 3)
    plane = points[:, 1:]
    axes = np.array([_spine_axis(list(points), i)[1:] for i in range(n)])  # in the sagittal plane
    for size, centre in zip(sizes, centres, strict=True):
        if size < min_voxels:
            continue
        rel = centre[1:] - plane
        along = np.abs(np.einsum("ij,ij->i", rel, axes))
        reach = np.linalg.norm(rel, axis=1)
        along[reach > MAX_REACH_MM] = np.inf
        best = int(np.argmin(along))
        if np.isfinite(along[best]):
            out[best] += size
    return out


def rib_flags(voxels: NDArray[np.float64], kinds: Sequence[str]) -> list[bool | None]:
    """Per vertebra: True (carries a rib), False (surely none), None (cannot tell, or not a body).

    Judged against the rib bone this series shows at all (the median over the vertebrae given any), so
    a thin slab that only grazes the ribs, or a network without the rib class, reads as "cannot tell"
    rather than "no rib". The sacrum, C1 and C2 are never judged.
    """
    judged = [k == "vertebra" for k in kinds]
    seen = [float(v) for v, j in zip(voxels, judged, strict=True) if j and v > 0]
    if len(seen) < 2:
        return [None] * len(kinds)
    typical = float(np.median(seen))
    flags: list[bool | None] = []
    for v, j in zip(voxels, judged, strict=True):
        if not j:
            flags.append(None)
        elif v >= RIB_SHARE * typical:
            flags.append(True)
        elif v <= NO_RIB_SHARE * typical:
            flags.append(False)
        else:
            flags.append(None)
    return flags
