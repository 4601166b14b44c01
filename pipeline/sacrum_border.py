"""Where the last body above the sacrum touches the sacrum, draw the border between them on the image.

Why: the network tells L5 from S1 by their colours (body class against sacrum class), and where the
L5/S1 disc is thin and dark it colours part of L5 as sacrum. The outline then gives that part of L5 to
the sacrum, whatever the names say: the bundled weights name real case VB2_16's L5 right but outline
less than half of it (its lower part and back went to the sacrum). The image still shows the border: a
dark line of endplates and disc, however thin, crosses the bone between the two. So the bone of the two
instances is split again along the image's edges, a watershed on the intensity gradient, flooded from
the body's own voxels and from the part of the sacrum far from it. Bone the network coloured as sacrum
but reached from the body without crossing an edge goes to the body, and the reverse.

Where the two are kept apart by a disc, as usual, they share no bone and nothing moves. Where they touch
only at a corner (noise at the back of a STIR disc, a thin disc seen obliquely) nothing moves either: a
flood through a small contact crosses into S1 as easily as it finds lost L5, and on the phantoms it did
(three STIR series lost 2-5 points of body Dice that way). The step runs only when the two share a face
at least half as wide as the body's own cross-section, as a body cut by the network's colours does.

A flood can also cross a faint L5/S1 line where the two do share a face, and then L5 swallows the top of
S1. That only costs, never gains, where L5 was not cut short in the first place: so the step runs only
for a last body smaller than the bodies above it (under 0.9 of the median volume of the two above).

The instances and names are read before this step; it only moves the voxel border between two
instances, so the names and their certainty cannot change.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from pipeline.instances import SpineInstances, VertebraInstance, component_centre_mm

#: Sacrum voxels further than this (mm) from the body seed the sacrum's side of the watershed. The part
#: of an L5 coloured as sacrum lies within one body height (25-35 mm) of the body-coloured part; the value
#: only has to reach past it (the split of VB2_16 is the same for 15, 25 and 35 mm).
SACRUM_SEED_MM = 25.0
#: Smoothing (working-grid pixels) before the gradient: a one-pixel noise edge must not stop the flood.
_SMOOTH_PX = 1.0
_COST_MAX = 60000  # gradient costs inside the two instances; everything outside costs more
_OUTSIDE = 65535
#: The border is redrawn only where the body touches the sacrum over at least this share of the body's
#: cross-section (voxels in one horizontal layer of it). Measured on the bundled weights: bodies cut by the
#: colours share 1.0-2.7 (VB2_16 2.7, the four phantoms it helps most 1.0-1.5); corner contacts 0.04-0.4
#: (VB2_07 0.04, the STIR phantoms where a flood crossed into S1 0.12-0.35).
_MIN_SHARED_FACE = 0.5
#: The step runs only where the last body holds less than this share of the median volume of the (up to
#: two) bodies above it: a body cut short by the network's colours is smaller than its neighbours. Measured
#: (last body / bodies above, before the step): where the step corrects a cut body 0.46-0.71 (VB2_16 0.61,
#: VB2_07 0.71 with the round-12 fold models; phantoms 9000032 0.46, 9000044 0.67 with v7); where the flood
#: crossed into S1 and body Dice fell 0.04-0.06, 1.09 and 1.21 (VB2_14, VB2_20, fold 0), redrawn to 2.05 and
#: 1.77; phantom 9000128 1.17, where the flood gave a hidden L5's bone to L4 (an L4 segment twice its size);
#: VB2_06 0.94 with the round-13 fold models, trained after this gate (body Dice 0.900, 0.849 without it).
#: A test on the redrawn size cannot separate them: 9000032's L5 is redrawn to 2.06 and still gains.
MAX_BODY_SHARE = 0.9
#: The reader is told when the body gained more than this share of its own volume (a real correction, not
#: a few border voxels).
_NOTE_SHARE = 0.1


def redraw_sacrum_border(
    inst: SpineInstances, image: NDArray[np.floating], spacing: tuple[float, float, float]
) -> SpineInstances:
    """``inst`` with the bone of the sacrum and the body above it split along the image's edges.

    ``image`` is the working-grid image ``(slice, row, col)`` the network saw; ``spacing`` its spacing in
    mm. Returns ``inst`` itself when there is no sacrum, no body above it, or they do not touch.
    """
    verts = inst.vertebrae
    s = next((i for i, v in enumerate(verts) if v.kind == "sacrum"), None)
    if s is None or s == 0 or verts[s - 1].kind != "vertebra":
        return inst
    body, sacrum = verts[s - 1], verts[s]
    box = shared_box(body.mask, sacrum.mask)
    if box is None:
        return inst
    b, sac = body.mask[box], sacrum.mask[box]
    if shared_face_share(b, sac) < _MIN_SHARED_FACE:
        return inst
    reference = _neighbour_volume(verts[: s - 1])
    if reference and body.volume_voxels >= MAX_BODY_SHARE * reference:
        return inst  # as large as its neighbours: not cut short, nothing to give back
    far = ndimage.distance_transform_edt(~b, sampling=spacing) > SACRUM_SEED_MM
    if not (sac & far).any():
        return inst  # the sacrum is all near the body (cut by the image's edge): no seed of its own
    moved = watershed_from(edge_cost(image[box], b | sac), b, sac & far) & sac
    if not moved.any():
        return inst
    body_mask, sacrum_mask = body.mask.copy(), sacrum.mask.copy()
    body_mask[box] |= moved
    sacrum_mask[box] &= ~moved
    sp = np.asarray(spacing, dtype=np.float64)
    out = list(verts)
    out[s - 1] = replace(body, mask=body_mask, center_mm=component_centre_mm(body_mask, sp))
    out[s] = replace(sacrum, mask=sacrum_mask, center_mm=component_centre_mm(sacrum_mask, sp))
    warnings = list(inst.warnings)
    if moved.sum() > _NOTE_SHARE * body.volume_voxels:
        warnings.append("part of the last body was coloured as sacrum: the border between them was drawn on the image")
    return SpineInstances(out, inst.discs, warnings)


def _neighbour_volume(above: list[VertebraInstance]) -> float:
    """Median volume (voxels) of the last two vertebral bodies in ``above``; 0 when there is none.

    Two, not one: the body right above may itself be cut short or joined to its neighbour, and the
    median of two bodies stays the size of a body when one of them is not.
    """
    bodies = [v.volume_voxels for v in above[-2:] if v.kind == "vertebra"]
    return float(np.median(bodies)) if bodies else 0.0


def shared_box(a: NDArray[np.bool_], b: NDArray[np.bool_]) -> tuple[slice, ...] | None:
    """Bounding box of ``a | b`` (one voxel wider) when the two masks touch, else None.

    The contact test runs inside the box, not on the whole volume: both masks lie wholly inside it, so
    the dilation finds the same contacts for a fraction of the work.
    """
    (tight,) = ndimage.find_objects((a | b).astype(np.uint8))
    box = tuple(slice(max(t.start - 1, 0), min(t.stop + 1, n)) for t, n in zip(tight, a.shape, strict=True))
    if not (ndimage.binary_dilation(a[box]) & b[box]).any():
        return None
    return box


def shared_face_share(body: NDArray[np.bool_], sacrum: NDArray[np.bool_]) -> float:
    """How much of ``body`` borders ``sacrum``, as a share of the body's cross-section.

    Face: body voxels with a sacrum voxel beside them within their slice (the slices are thick, so
    contact across slices says little). Cross-section: the body's voxels divided by the mean number of
    rows it spans per slice, i.e. the voxels of one horizontal layer of it. A body cut flat by the
    network's colours scores about 1, one wrapped by sacrum colour more, a corner contact far less.
    """
    in_plane = np.zeros((3, 3, 3), dtype=bool)
    in_plane[1] = ndimage.generate_binary_structure(2, 1)
    face = int((body & ndimage.binary_dilation(sacrum, in_plane)).sum())
    slices = [k for k in range(body.shape[0]) if body[k].any()]
    if not slices:
        return 0.0
    rows = np.mean([np.count_nonzero(body[k].any(axis=1)) for k in slices])
    return face / (body.sum() / rows)


def edge_cost(image: NDArray[np.floating], domain: NDArray[np.bool_]) -> NDArray[np.uint16]:
    """Gradient magnitude per slice (the slices are thick: no gradient across them), as a uint16 cost.

    Scaled by its 99th percentile inside ``domain`` so that the cost means the same for any intensity
    range; voxels outside ``domain`` get the top cost and so are never crossed while a path inside exists.
    """
    grad = np.zeros(image.shape, dtype=np.float32)
    for k in range(image.shape[0]):
        smooth = ndimage.gaussian_filter(image[k].astype(np.float32), _SMOOTH_PX)
        grad[k] = np.hypot(ndimage.sobel(smooth, 0), ndimage.sobel(smooth, 1))
    top = float(np.percentile(grad[domain], 99)) or 1.0
    cost = np.clip(grad / top * _COST_MAX, 0, _COST_MAX).astype(np.uint16)
    cost[~domain] = _OUTSIDE
    return cost


def watershed_from(
    cost: NDArray[np.uint16], body_seed: NDArray[np.bool_], sacrum_seed: NDArray[np.bool_]
) -> NDArray[np.bool_]:
    """The voxels the body's flood reaches first (scipy's image foresting transform)."""
    markers = np.zeros(cost.shape, dtype=np.int16)
    markers[cost == _OUTSIDE] = 3  # outside the two instances: a basin of its own, costing the most
    markers[sacrum_seed] = 2
    markers[body_seed] = 1
    return ndimage.watershed_ift(cost, markers) == 1
