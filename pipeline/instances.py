"""Stage 3: split the semantic map into single vertebrae and discs, ordered along the spine.

Why connected components plus a curve and not a learned instance head: vertebral bodies are separated
by discs, so components are right almost always, and the two failure cases (two bodies joined where a
disc was missed, one body broken in two) are easy to see along the spine: a component twice as tall
as its neighbours, or two small pieces closer together than a body is high. Discs are then assigned to
the gap between two consecutive vertebrae by their position along the polyline through the vertebra
centres, which also splits a disc component that leaks across two levels.

Everything here works on the working grid (see :mod:`pipeline.preprocess`) in millimetres.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage
from scipy.spatial import cKDTree

from pipeline.model import BODY, C1, C2, CANAL, CORD, DISC, SACRUM

VertebraKind = Literal["vertebra", "sacrum", "c2", "c1"]


@dataclass(eq=False)  # identity semantics: instances are compared with `is` and found with `index`
class VertebraInstance:
    """One vertebra candidate (a body, the C2 body with its dens, the C1 ring, or the sacrum)."""

    kind: VertebraKind
    mask: NDArray[np.bool_]
    """Voxels on the working grid."""
    center_mm: NDArray[np.float64]
    """Centre of mass in working-grid millimetres ``(slice, row, col) * spacing``."""
    height_mm: float
    """Extent along the local spine direction."""

    @cached_property
    def points(self) -> NDArray[np.intp]:
        """Voxel indices of the mask (computed once: masks are full-grid and argwhere is not free)."""
        return _argwhere(self.mask)

    @property
    def volume_voxels(self) -> int:
        return len(self.points)


@dataclass
class DiscInstance:
    """Disc voxels lying in the gap below vertebra ``upper`` (an index into the vertebra list).

    ``upper == -1`` is a disc above the top vertebra in view; ``lower == len(vertebrae)`` one below
    the bottom vertebra.
    """

    upper: int
    lower: int
    mask: NDArray[np.bool_]
    center_mm: NDArray[np.float64]
    #: Voxels of ``mask`` that the network coloured as bone (see :func:`_add_hidden_discs`): the label map
    #: gives them to the disc although bone is their most likely class.
    hidden: NDArray[np.bool_] | None = None


@dataclass
class SpineInstances:
    """Vertebrae ordered head to feet, and the discs between them."""

    vertebrae: list[VertebraInstance]
    discs: list[DiscInstance]
    warnings: list[str] = field(default_factory=list)


def _argwhere(mask: NDArray[np.bool_]) -> NDArray[np.intp]:
    """``np.argwhere`` restricted to the bounding box first (masks are small parts of a big grid)."""
    if not mask.any():
        return np.zeros((0, mask.ndim), dtype=np.intp)
    lo, hi = [], []
    for axis in range(mask.ndim):
        other = tuple(a for a in range(mask.ndim) if a != axis)
        nz = np.nonzero(mask.any(axis=other))[0]
        lo.append(int(nz[0]))
        hi.append(int(nz[-1]) + 1)
    box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    return np.argwhere(mask[box]) + np.asarray(lo)


def component_centre_mm(mask: NDArray[np.bool_], spacing: NDArray[np.float64]) -> NDArray[np.float64]:
    """Centre of mass of ``mask`` in working-grid millimetres (:attr:`VertebraInstance.center_mm`)."""
    idx = _argwhere(mask)
    return idx.mean(axis=0) * spacing


def _extent_along(points: NDArray[np.intp], spacing: NDArray[np.float64], axis: NDArray[np.float64]) -> float:
    pts = points * spacing
    proj = pts @ axis
    return float(np.percentile(proj, 99) - np.percentile(proj, 1)) if len(proj) else 0.0


def _components(mask: NDArray[np.bool_], min_voxels: int) -> list[NDArray[np.bool_]]:
    labelled, n = ndimage.label(mask)
    if n == 0:
        return []
    sizes = ndimage.sum_labels(np.ones_like(labelled), labelled, index=np.arange(1, n + 1))
    # Specks far smaller than the largest components never become bodies: skip them before building
    # full-size masks (a noisy map has hundreds).
    reference = float(np.median(np.sort(sizes)[::-1][:5]))
    min_voxels = max(min_voxels, int(0.05 * reference))
    slices = ndimage.find_objects(labelled)
    out = []
    for lab, (size, sl) in enumerate(zip(sizes, slices, strict=True), start=1):
        if size >= min_voxels:
            comp = np.zeros(mask.shape, dtype=bool)
            comp[sl] = labelled[sl] == lab
            out.append(comp)
    return out


def _spine_axis(centers: list[NDArray[np.float64]], i: int) -> NDArray[np.float64]:
    """Unit vector along the spine at candidate ``i``, from its neighbours (head to feet)."""
    if len(centers) < 2:
        return np.array([0.0, 1.0, 0.0])
    a = centers[max(i - 1, 0)]
    b = centers[min(i + 1, len(centers) - 1)]
    d = b - a
    d[0] = 0.0  # the spine runs in the sagittal plane; lateral offsets between slices are noise
    n = np.linalg.norm(d)
    return d / n if n > 0 else np.array([0.0, 1.0, 0.0])


def _absorb_slivers(parts: list[NDArray[np.bool_]]) -> list[NDArray[np.bool_]]:
    """Join pieces much smaller than the others to their neighbour along the spine.

    Equal cuts along a merged run leave a sliver at an end when the run is not a whole number of
    bodies (a body cut by the image edge, or stray voxels); a sliver is never a vertebra.
    """
    parts = list(parts)
    while len(parts) > 1:
        sizes = [int(q.sum()) for q in parts]
        i = int(np.argmin(sizes))
        if sizes[i] >= 0.3 * float(np.mean(sizes)):
            break
        j = i - 1 if i == len(parts) - 1 or (i > 0 and sizes[i - 1] < sizes[i + 1]) else i + 1
        parts[j] = parts[j] | parts[i]
        del parts[i]
    return parts


def _split_component(
    mask: NDArray[np.bool_], spacing: NDArray[np.float64], axis: NDArray[np.float64], pieces: int
) -> list[NDArray[np.bool_]]:
    """Cut a component that holds ``pieces`` bodies at the thinnest cross-sections along ``axis``."""
    idx = _argwhere(mask)
    proj = (idx * spacing) @ axis
    lo, hi = float(proj.min()), float(proj.max())
    bins = np.arange(lo, hi + 1.0, 1.0)
    hist, _ = np.histogram(proj, bins=bins)
    hist = ndimage.uniform_filter1d(hist.astype(float), 3)
    cuts: list[float] = []
    for p in range(1, pieces):
        expected = lo + (hi - lo) * p / pieces
        window = (hi - lo) / pieces * 0.35
        sel = np.nonzero(np.abs(bins[:-1] - expected) <= window)[0]
        if len(sel) == 0:
            cuts.append(expected)
            continue
        best = sel[np.argmin(hist[sel])]
        cuts.append(float(bins[best]) + 0.5)
    edges = [-np.inf, *cuts, np.inf]
    out = []
    for a, b in itertools.pairwise(edges):
        part = np.zeros(mask.shape, dtype=bool)
        sel = (proj >= a) & (proj < b)
        part[tuple(idx[sel].T)] = True
        if part.any():
            out.append(part)
    return out


def separate_instances(
    classes: NDArray[np.integer],
    spacing: tuple[float, float, float],
    min_body_mm3: float = 400.0,
    disc_probability: NDArray[np.floating] | None = None,
    cut: float = 0.1,
) -> SpineInstances:
    """Vertebra and disc instances from a working-grid class map (see :data:`pipeline.model.CLASSES`)."""
    sp = np.asarray(spacing, dtype=np.float64)
    voxel_mm3 = float(np.prod(sp))
    min_vox = max(1, int(min_body_mm3 / voxel_mm3))
    warnings: list[str] = []

    # Thin discs (thoracic, thick slices) are often not the winning class, yet their probability still
    # rises between two bodies: cutting bone where it exceeds ``cut`` separates bodies the argmax
    # joined. The cut voxels get their instance back from the nearest body when the map is assembled.
    weak_disc = disc_probability >= cut if disc_probability is not None else np.zeros(classes.shape, bool)
    # Except in the rows at the top and bottom of the image: a body cut by the image edge leaves a sliver
    # a few rows thin, blurred by the disc next to it all through, and the cut removed it whole; its bone
    # then belonged to no vertebra and the disc's outline named it (a T10 sliver scored as "T10/T11").
    weak_disc[:, :_EDGE_ROWS] = False
    weak_disc[:, classes.shape[1] - _EDGE_ROWS :] = False
    cands: list[VertebraInstance] = []
    for kind, cls in (("vertebra", BODY), ("c2", C2), ("sacrum", SACRUM)):
        comps = _components((classes == cls) & ~weak_disc, min_vox if kind != "sacrum" else 2 * min_vox)
        if kind in ("c2", "sacrum") and len(comps) > 1:
            # One C2 and one sacrum at most: keep the largest, give the rest to the body class
            # (a C3 or L5 partly coloured as C2 or sacrum is the usual confusion).
            comps.sort(key=lambda m: -int(m.sum()))
            if kind == "sacrum":
                comps = _sacrum_on_column(comps, cands, sp, warnings)
            cands.extend(VertebraInstance("vertebra", m, component_centre_mm(m, sp), 0.0) for m in comps[1:])
            comps = comps[:1]
        for m in comps:
            cands.append(VertebraInstance(kind, m, component_centre_mm(m, sp), 0.0))  # type: ignore[arg-type]
    cands.sort(key=lambda v: v.center_mm[1])
    cands = _drop_small_and_lateral(cands, sp, warnings, rows=classes.shape[1])
    cands = _drop_off_curve(cands, warnings)
    canal = _argwhere((classes == CANAL) | (classes == CORD))  # used twice: once per pass
    cands = _drop_beside_column(cands, canal, sp, warnings)
    cands = _drop_misplaced_anchors(cands, warnings)

    # Heights along the local spine direction, then split components that hold several bodies. A merged run
    # of cervical bodies is cut into too few pieces at first (its neighbours, merged too, set the scale), so
    # the cuts are repeated once the neighbours are single bodies; see :data:`_LATE_SPLIT_VOLUME`.
    for split_pass in range(_SPLIT_PASSES):
        centers = [c.center_mm for c in cands]
        for i, c in enumerate(cands):
            c.height_mm = _extent_along(c.points, sp, _spine_axis(centers, i))
        bodies = [c.height_mm for c in cands if c.kind == "vertebra"]
        if not bodies:
            break
        typical = float(np.median(bodies)) if len(bodies) >= 3 else np.inf
        out: list[VertebraInstance] = []
        changed = False
        for i, c in enumerate(cands):
            axis = _spine_axis(centers, i)
            # A vertebral body is about as tall as it is deep (height/depth 0.6-1.0 from C3 to L5), so
            # a component much taller than deep holds several bodies, whatever its neighbours look
            # like (they may be merged too). The neighbours' median height is the second test.
            perp = np.array([0.0, -axis[2], axis[1]])
            depth = max(_extent_along(c.points, sp, perp), 1.0)
            by_shape = round(c.height_mm / (0.85 * depth)) if c.height_mm > 1.4 * depth else 1
            # Bodies grow from C3 to L5 (three-fold in a whole-spine view): the reference is the bodies
            # around this one, the column's median only where it has too few neighbours.
            local = _median_near(cands, i, "height_mm")
            local = local if np.isfinite(local) else typical
            by_size = round(c.height_mm / local) if c.height_mm > 1.7 * local else 1
            pieces = max(by_shape, by_size) if c.kind == "vertebra" else 1
            if split_pass >= 2 and c.volume_voxels < _LATE_SPLIT_VOLUME * _median_near(cands, i, "volume_voxels"):
                pieces = 1
            if pieces >= 2:
                parts = _absorb_slivers(_split_component(c.mask, sp, axis, int(pieces)))
                if len(parts) > 1:
                    out.extend(VertebraInstance("vertebra", q, component_centre_mm(q, sp), 0.0) for q in parts)
                    changed = True
                else:
                    out.append(c)
            else:
                out.append(c)
        cands = sorted(out, key=lambda v: v.center_mm[1])
        if not changed:
            break
        warnings.append("split vertebra component(s) that spanned several levels")
    if not any(c.kind == "c2" for c in cands):
        cands = _mark_c2_at_spine_top(cands, classes, sp, warnings)
    cands = _merge_fragments(cands, sp)
    cands = _add_atlas(cands, classes == C1, sp, min_vox, warnings)
    cands = _drop_beside_column(cands, canal, sp, warnings)
    # Splitting a component can leave a lateral piece of it (a pedicle, one slice wide) as a body of its own.
    fragments = [c for i, c in enumerate(cands) if c.kind == "vertebra" and _off_centre_fragment(cands, i)]
    if fragments:
        warnings.append(f"ignored {len(fragments)} small piece(s) beside the column")
        cands = [c for c in cands if not any(c is f for f in fragments)]
    cands = _absorb_small_pieces(cands, sp, rows=classes.shape[1])
    cands = _join_sacral_pieces(cands, sp, warnings)
    centers = [c.center_mm for c in cands]
    for i, c in enumerate(cands):
        c.height_mm = _extent_along(c.points, sp, _spine_axis(centers, i))

    discs = _assign_discs(classes == DISC, cands, sp, min_vox // 8 + 1)
    discs = _add_hidden_discs(discs, classes, weak_disc, cands, sp, min_vox // 8 + 1)
    return SpineInstances(cands, discs, warnings)


#: Rows at the top and bottom of the image where bone is never cut by a weak disc probability.
_EDGE_ROWS = 3
#: A body touching the top or bottom of the image is kept from this share of the column's bodies.
_EDGE_KEEP = 0.05

#: How far (mm, in the sagittal plane, front to back) a sacrum's centre may lie from the centre of the body
#: level with it or nearest above it. The sacrum continues the column, tilted backwards: measured with the
#: bundled weights, its centre lies 8-59 mm from the last body's on 225 evaluation phantoms and 37-50 mm on
#: the 17 real cases, while the patches in front of the spine coloured as sacrum lie 145-180 mm away.
_SACRUM_OFF_COLUMN_MM = 90.0


def _sacrum_on_column(
    comps: list[NDArray[np.bool_]], bodies: list[VertebraInstance], sp: NDArray[np.float64], warnings: list[str]
) -> list[NDArray[np.bool_]]:
    """Sacrum-coloured components (largest first) without those away from the column, if the largest is.

    Why: the largest sacrum-coloured component was taken for the sacrum, and everything is counted from
    it. A network that has seen few real pelvises colours a patch of bowel in front of the lumbar spine
    as sacrum, larger than the real one; every lumbar name then shifts by two or three levels (7 of 8
    misnamed real cases with the cross-validation fold models, round 6). The column is the curve through
    the plain bodies (:func:`_drop_off_curve`); a component whose centre lies more than
    :data:`_SACRUM_OFF_COLUMN_MM` in front of or behind it is dropped: it is not a vertebra either (given to
    the body class, its pieces were counted as bodies). With no component on the column, nothing changes.
    """
    column = _drop_off_curve(list(bodies), [])
    if len(column) < 3:
        return comps
    on = [m for m in comps if _off_column_mm(component_centre_mm(m, sp), column) <= _SACRUM_OFF_COLUMN_MM]
    if not on or on[0] is comps[0]:
        return comps
    warnings.append(f"ignored {len(comps) - len(on)} sacrum-like component(s) in front of or behind the column")
    return on


def _off_column_mm(center: NDArray[np.float64], column: list[VertebraInstance]) -> float:
    """Front-to-back distance (mm) of ``center`` from the body level with it, or the lowest one above it."""
    above = [c for c in column if c.center_mm[1] <= center[1]]
    ref = max(above, key=lambda c: c.center_mm[1]) if above else min(column, key=lambda c: c.center_mm[1])
    return float(abs(center[2] - ref.center_mm[2]))


#: Passes of the splitting loop; the first two cut on height alone.
_SPLIT_PASSES = 4
#: From the third pass a piece is cut again only when it also holds this many times the volume of the bodies
#: around it: in a series strewn with lateral pieces, height alone kept cutting small pieces in two.
_LATE_SPLIT_VOLUME = 1.6


def _median_near(cands: list[VertebraInstance], i: int, attribute: str) -> float:
    """Median ``attribute`` of the plain bodies up to three places either side of candidate ``i`` (inf if < 3)."""
    near = [float(getattr(cands[j], attribute)) for j in range(i - 3, i + 4)
            if j != i and 0 <= j < len(cands) and cands[j].kind == "vertebra"]  # fmt: skip
    return float(np.median(near)) if len(near) >= 3 else np.inf


#: C1-class voxels within this distance (sagittal plane) of the largest C1 piece belong to the same ring.
_ATLAS_RING_MM = 35.0
#: A view that shows both the top of the column (C1 or C2) and the sacrum spans at least this (mm, sagittal
#: plane, from the anchor's centre to the sacrum's; the column-top rule measures it head to feet). C2 to
#: sacrum is 486-620 mm on the evaluation phantoms and about 500-600 mm in adults; a real lumbar view is
#: about 250-300 mm tall. An anchor closer to the sacrum than this is a lumbar or thoracolumbar view's top
#: body, or a speck above it, coloured as C1/C2 (seen on real cases resliced to 3 mm, turned 15 degrees or
#: shaded by the coil: ``python -m pipeline.stress``); read as one, it named T10-L2 "C2"-"C5".
_WHOLE_SPINE_MIN_MM = 400.0
#: Centre-to-centre spacing (mm) of C3-C7 in adults is about 15-20 mm, of T10-L5 about 28-40 mm.
_CERVICAL_SPACING_MM = 24.0
#: C2 lies right below C1: the first body whose centre is within this distance of C1's is taken for C2.
_ATLAS_TO_AXIS_MM = 45.0


def _add_atlas(
    cands: list[VertebraInstance], c1_mask: NDArray[np.bool_], sp: NDArray[np.float64], min_vox: int,
    warnings: list[str],
) -> list[VertebraInstance]:
    """Put C1 (the atlas, its own network class) on top of the column, and read C2 from it where needed.

    Why added last: C1 has no body, so none of the body rules (sizes, spacing, splits) apply to it; its
    ring shows in a sagittal slice as an anterior and a posterior arch, two pieces, gathered here into
    one. It counts for nothing in the naming except that the vertebra right below it is C2: a second way
    to find the top of the column when the C2 class was not seen.
    """
    if not c1_mask.any():
        return cands
    comps = _components(c1_mask, max(1, min_vox // 4))
    if not comps:
        return cands
    comps.sort(key=lambda m: -int(m.sum()))
    main = component_centre_mm(comps[0], sp)
    ring = [m for m in comps if np.linalg.norm((component_centre_mm(m, sp) - main)[1:]) <= _ATLAS_RING_MM]
    mask = np.logical_or.reduce(ring)
    if int(mask.sum()) < min_vox:
        # The ring holds more than the smallest body kept here (the phantoms' anterior arch alone is about
        # 0.8 cm3): a few C1-coloured voxels are noise (a speck at the top of a lumbar view made its top body
        # "C2").
        return cands
    atlas = VertebraInstance("c1", mask, component_centre_mm(mask, sp), 0.0)
    above = [c for c in cands if c.center_mm[1] <= atlas.center_mm[1]]
    below = next((c for c in cands if c.center_mm[1] > atlas.center_mm[1]), None)
    cut = below is not None and below.points[:, 1].min() <= 2
    if _below_sacrum_too_close(atlas, cands):
        warnings.append("ignored C1-like voxels less than a whole spine above the sacrum")
        return cands
    if below is None or cut or below.kind == "sacrum" or len(above) > 1 or any(c.kind != "vertebra" for c in above):
        # C1 is the top of the column: at most one piece of skull base may lie above it, and C2 below it
        # lies whole in the image (a body cut by the top edge has more column above it).
        warnings.append("ignored C1-like voxels that were not at the top of the column")
        return cands
    near = np.linalg.norm((below.center_mm - atlas.center_mm)[1:]) <= _ATLAS_TO_AXIS_MM
    if near and below.kind == "vertebra" and not any(c.kind == "c2" for c in cands):
        below.kind = "c2"
        warnings.append("C2 taken as the body right below C1")
    return [*above, atlas, *cands[len(above) :]]


def _drop_misplaced_anchors(cands: list[VertebraInstance], warnings: list[str]) -> list[VertebraInstance]:
    """Drop a "sacrum" at the top of the column, or a "C2" at its bottom.

    The sacrum ends the column and C2 nearly starts it; a skull base coloured as sacrum, or a sacral
    segment coloured as C2, would otherwise anchor the naming at the wrong end and make every name
    wrong with full confidence. Bone-like pieces below a sacrum that has the column above it are
    coccyx or pelvis, named so by the naming stage, and do not disqualify it.
    """
    out: list[VertebraInstance] = []
    for i, c in enumerate(cands):
        below = sum(1 for d in cands[i + 1 :] if d.kind == "vertebra")
        above = sum(1 for d in cands[:i] if d.kind == "vertebra")
        if c.kind == "sacrum" and below >= 3 and below > above:
            warnings.append("ignored a sacrum-like component at the top of the column")
            continue
        if c.kind == "c2" and above >= 3 and above > below:
            warnings.append("ignored a C2-like component at the bottom of the column")
            continue
        if c.kind == "c2" and _below_sacrum_too_close(c, cands):
            # Kept as a body: it is usually the top body of a lumbar view, partly coloured as C2.
            warnings.append("a C2-like component less than a whole spine above the sacrum taken as a body")
            c.kind = "vertebra"
        out.append(c)
    return out


def _below_sacrum_too_close(anchor: VertebraInstance, cands: list[VertebraInstance]) -> bool:
    """True when ``anchor`` (a C1 or C2) cannot be the top of the spine: it lies less than a whole spine
    (:data:`_WHOLE_SPINE_MIN_MM`) above the sacrum, and the bodies between are spaced as thoracic or lumbar
    ones (over :data:`_CERVICAL_SPACING_MM`). Why the spacing: in a cervical view it is the sacrum-coloured
    piece below that is wrong, not C2; there the naming keeps both anchors and names each side from its own.
    """
    sacrum = next((c for c in cands if c.kind == "sacrum"), None)
    if sacrum is None or sacrum.center_mm[1] <= anchor.center_mm[1]:
        return False
    if float(np.linalg.norm((sacrum.center_mm - anchor.center_mm)[1:])) >= _WHOLE_SPINE_MIN_MM:
        return False
    top, bottom = anchor.center_mm[1], sacrum.center_mm[1]
    between = [c.center_mm[1:] for c in cands if c.kind == "vertebra" and top < c.center_mm[1] < bottom]
    if len(between) < 3:
        return False
    spacing = float(np.median(np.linalg.norm(np.diff(np.asarray(between), axis=0), axis=1)))
    return spacing > _CERVICAL_SPACING_MM


def _mark_c2_at_spine_top(
    cands: list[VertebraInstance], classes: NDArray[np.integer], sp: NDArray[np.float64], warnings: list[str]
) -> list[VertebraInstance]:
    """Find C2 as the top of the vertebral column when the column ends inside the field of view.

    Why a geometric rule: C2 is one small structure per cervical series, so the network's own C2 class
    is the least reliable one. But the column has only one top: below the skull the first sizeable body
    is C2 (its dens makes it the tallest), with at most C1's small anterior arch above it. In a lumbar or
    thoracic view the column runs out of the image instead, so the top body touches the image edge and
    this rule does not fire.
    """
    centers = [c.center_mm for c in cands]
    for i, c in enumerate(cands):
        c.height_mm = _extent_along(c.points, sp, _spine_axis(centers, i))
    bodies = [c for c in cands if c.kind == "vertebra"]
    if len(bodies) < 4:
        return cands
    top = bodies[0]
    sacrum = next((c for c in cands if c.kind == "sacrum"), None)
    if sacrum is not None and 0.0 < sacrum.center_mm[1] - top.center_mm[1] < _WHOLE_SPINE_MIN_MM:
        return cands  # a lumbar or thoracolumbar view: its top is a thoracic body cut by the view
    # Shape rule: C2 with its dens is far taller and larger than C3-C5 below it; no thoracic or lumbar
    # body is 1.5 times its three lower neighbours in both (merged pairs were split before this).
    for t in range(min(6, len(bodies) - 3)):
        cand, lower = bodies[t], bodies[t + 1 : t + 4]
        big = cand.volume_voxels >= 1.5 * float(np.median([b.volume_voxels for b in lower]))
        tall = cand.height_mm >= 1.5 * float(np.median([b.height_mm for b in lower]))
        alone = all(b.volume_voxels < 0.5 * cand.volume_voxels for b in bodies[:t])
        if big and tall and alone:
            cand.kind = "c2"
            warnings.append("C2 taken as the tall body (dens) at the top of the cervical column")
            return cands
    rows = top.points[:, 1] * sp[1]
    top_mm = float(rows.min())
    if top_mm < 30.0:
        return cands  # the column may continue above the image
    # No bone-like voxel in a 30 mm band above it, within 25 mm of its centre column (the skull base
    # or the C1 ring are allowed: C1 is small, the skull is background to the network).
    r0 = int(max(0.0, top_mm - 30.0) / sp[1])
    r1 = int(top_mm / sp[1])
    c0 = int(max(0.0, top.center_mm[2] - 25.0) / sp[2])
    c1 = int((top.center_mm[2] + 25.0) / sp[2]) + 1
    above = np.isin(classes[:, r0:r1, c0:c1], (BODY, C2)).sum()
    median_volume = float(np.median([b.volume_voxels for b in bodies[1:4]]))
    if above > median_volume:  # C1's ring and specks of skull base are allowed, a body is not
        return cands
    # C2 is the first sizeable body from the top. The network often leaves the dens as background and
    # the shape split cuts C2 in pieces, so the pieces above it within 25 mm (dens, C1's anterior arch)
    # are merged into it, and C2 need not look larger than C3-C5: it must only be a body, not a speck.
    # (Were C2 missed entirely, C3 would be taken for it; names resting on C2 alone are never certain.)
    typical = float(np.median([b.volume_voxels for b in bodies[:8]]))
    i = next(k for k, b in enumerate(bodies) if b.volume_voxels >= 0.3 * typical)
    chosen = bodies[i]
    pieces = [b for b in bodies[:i] if np.linalg.norm((b.center_mm - chosen.center_mm)[1:]) < 25.0]
    below = bodies[i + 1 : i + 4]
    if not below or chosen.volume_voxels + sum(b.volume_voxels for b in pieces) < 0.6 * float(
        np.median([b.volume_voxels for b in below])
    ):
        return cands
    warnings.append("C2 taken as the top of the vertebral column (the column ends inside the image)")
    if not pieces:
        chosen.kind = "c2"
        return cands
    merged = np.logical_or.reduce([chosen.mask, *(b.mask for b in pieces)])
    c2 = VertebraInstance("c2", merged, component_centre_mm(merged, sp), 0.0)
    return [c2 if c is chosen else c for c in cands if not any(c is b for b in pieces)]


def _drop_small_and_lateral(
    cands: list[VertebraInstance], sp: NDArray[np.float64], warnings: list[str], rows: int = 0
) -> list[VertebraInstance]:
    """Drop specks (much smaller than the typical body) and components far to one side of the spine.

    A body cut by the edge of the field of view still keeps a sizeable part; a false positive in the
    bowel or a rib head is a small fraction of a body. The reference is the median of the largest
    components, so a view holding only small cervical bodies is judged against its own size.
    """
    if len(cands) < 3:
        return cands
    vols = np.array([c.volume_voxels for c in cands], dtype=float)
    plain = np.array([c.kind == "vertebra" for c in cands])
    # C2 (with its dens) and the sacrum are far larger than a body: they would inflate the reference.
    pool = vols[plain] if plain.sum() >= 3 else vols
    ref = float(np.median(np.sort(pool)[::-1][: min(5, len(pool))]))
    big = [c for c, v in zip(cands, vols, strict=True) if v >= 0.5 * ref]
    mid_slice = float(np.median([c.center_mm[0] for c in big]))
    keep = []
    for i, (c, v) in enumerate(zip(cands, vols, strict=True)):
        # A body cut by the top or bottom of the image is small for a good reason: kept from 10 %.
        at_edge = rows > 0 and (c.points[:, 1].min() <= 2 or c.points[:, 1].max() >= rows - 3)
        # Judged against the column's large bodies and against its own neighbours, whichever is smaller:
        # in a cervical view that runs into the thorax, C3 is a quarter of T3 and still a vertebra.
        local = _neighbour_volume(cands, i)
        small = v < (_EDGE_KEEP if at_edge else 0.25) * min(ref, local) and c.kind == "vertebra"
        lateral = abs(c.center_mm[0] - mid_slice) > 35.0
        if c.kind == "vertebra" and not at_edge:
            small = small or _off_centre_fragment(cands, i)
        if not (small or lateral) or (c.kind != "vertebra" and not lateral):
            keep.append(c)
    if len(keep) < len(cands):
        warnings.append(f"ignored {len(cands) - len(keep)} small or lateral bone-like component(s)")
    return keep


def _neighbour_volume(cands: list[VertebraInstance], i: int) -> float:
    """Median volume of the plain bodies up to two places above and below candidate ``i`` (inf if none)."""
    near = [
        cands[j].volume_voxels
        for j in (i - 2, i - 1, i + 1, i + 2)
        if 0 <= j < len(cands) and cands[j].kind == "vertebra"
    ]
    return float(np.median(near)) if len(near) >= 2 else np.inf


#: How far to one side of the spinal canal at its level a body's centre can lie (a body is centred in front of it).
_LATERAL_MM = 15.0


def _drop_beside_column(
    cands: list[VertebraInstance], canal: NDArray[np.intp], sp: NDArray[np.float64], warnings: list[str]
) -> list[VertebraInstance]:
    """Drop body candidates centred more than :data:`_LATERAL_MM` to one side of the spinal canal.

    Why: the column test (:func:`_drop_off_curve`) works in the sagittal plane, so a rib head or a lateral
    mass coloured as body, level with the column but on a slice 25 mm to one side, passes it and is
    counted as one more vertebra: every name past it shifts (about half the whole-spine naming errors on the
    v5 weights: 77.9 % -> 88.8 % named with this test). The canal
    (the network's canal and cord classes) runs right behind the bodies at every level, follows the column
    through scoliosis, and is one long structure that a few lateral pieces cannot pull aside, as they pull
    their neighbours' median. ``canal`` holds the canal's voxel indices. A candidate with no canal at its
    level is left alone.
    """
    points = canal
    if len(points) == 0:
        return cands
    drop = []
    for c in cands:
        if c.kind != "vertebra":
            continue
        rows = c.points[:, 1]
        level = points[(points[:, 1] >= rows.min()) & (points[:, 1] <= rows.max())]
        if len(level) < 20:
            continue
        midline = float(np.median(level[:, 0])) * sp[0]
        if abs(c.center_mm[0] - midline) > _LATERAL_MM:
            drop.append(c)
    if drop:
        warnings.append(f"ignored {len(drop)} bone-like component(s) beside the spinal canal")
    return [c for c in cands if not any(c is d for d in drop)]


def _off_centre_fragment(cands: list[VertebraInstance], i: int) -> bool:
    """A piece under half the size of the bodies around it and off their midline: a pedicle, a sacral ala
    or a transverse process coloured as body, not a vertebra.

    Judged against the neighbouring bodies rather than the whole column, because cervical bodies in a
    whole-spine view are a quarter of a lumbar body and scoliosis moves the midline along the column.
    A real case (a lateral piece between L5 and the sacrum) shifted every name by one.
    """
    c = cands[i]
    near = [cands[j] for j in (i - 2, i - 1, i + 1, i + 2) if 0 <= j < len(cands) and cands[j].kind == "vertebra"]
    if len(near) < 2:
        return False
    size = float(np.median([n.volume_voxels for n in near]))
    midline = float(np.median([n.center_mm[0] for n in near]))
    return c.volume_voxels < 0.5 * size and abs(c.center_mm[0] - midline) > 8.0


def _drop_off_curve(cands: list[VertebraInstance], warnings: list[str]) -> list[VertebraInstance]:
    """Keep the components on the one smooth column that holds most bone (ribs, iliac bone, bowel out).

    RANSAC over triples of components: each triple defines a quadratic ``col(row)`` in the sagittal
    plane; the curve supported by the largest total volume within 20 mm wins. Volume-weighted least
    squares alone is pulled off the spine by one large false positive; the vote is not.
    """
    if len(cands) < 4:
        return cands
    rows = np.array([c.center_mm[1] for c in cands])
    cols = np.array([c.center_mm[2] for c in cands])
    vols = np.array([float(c.volume_voxels) for c in cands])
    # Only plain bodies vote: C2 and the sacrum are single components of their own class, kept whatever
    # the curve.
    anchors = np.array([c.kind != "vertebra" for c in cands])
    voters = ~anchors
    # Nor does a body below the sacrum's centre vote (it is still tested): no presacral body lies there,
    # but bowel or pelvic bone coloured as body does, and two such pieces outvoted L5 by bending the curve
    # down to them (a real case on 4 mm slices).
    sacrum_rows = [c.center_mm[1] for c in cands if c.kind == "sacrum"]
    if sacrum_rows:
        voters &= rows <= sacrum_rows[0]
    if voters.sum() < 3:
        voters[:] = True
        anchors[:] = False
    rng = np.random.default_rng(0)
    n = len(cands)
    pool = np.nonzero(voters)[0]
    best_score, best_keep = -1.0, np.ones(n, dtype=bool)
    trials = [tuple(rng.choice(pool, 3, replace=False)) for _ in range(min(300, len(pool) ** 3))]
    for tri in trials:
        idx = list(tri)
        if np.ptp(rows[idx]) < 20.0:
            continue
        coef = np.polyfit(rows[idx], cols[idx], 2)
        if abs(coef[0]) > 0.01:  # sharper than any spine curvature (mm^-1 in col(row))
            continue
        keep = np.abs(np.polyval(coef, rows) - cols) < 20.0
        score = float(vols[keep & voters].sum())
        if score > best_score:
            best_score, best_keep = score, keep
    keep = best_keep | anchors
    fit = keep & voters
    if fit.sum() >= 4:
        coef = np.polyfit(rows[fit], cols[fit], min(3, int(fit.sum()) - 2), w=np.sqrt(vols[fit]))
        keep = (np.abs(np.polyval(coef, rows) - cols) < 22.0) | anchors
    if keep.sum() < 2:
        return cands
    if not keep.all():
        warnings.append(f"ignored {int((~keep).sum())} bone-like component(s) away from the spine")
    return [c for c, k in zip(cands, keep, strict=True) if k]


def _merge_fragments(cands: list[VertebraInstance], sp: NDArray[np.float64]) -> list[VertebraInstance]:
    """Merge two neighbouring pieces that together make one body.

    Two real neighbours sit a body height plus a disc apart and hold twice a body's volume; two halves
    of one body (cut by a bright basivertebral vein or a Schmorl node taken for disc) sit closer than
    three quarters of a body height and add up to about one body (up to 1.6: C3 can be deeper than the
    bodies it is compared with; in one whole-spine evaluation series its two halves held 1.43 of them).
    """
    centers = [c.center_mm for c in cands]
    for i, c in enumerate(cands):
        c.height_mm = _extent_along(c.points, sp, _spine_axis(centers, i))
    bodies = [c for c in cands if c.kind == "vertebra"]
    if len(bodies) < 3:
        return cands
    out = list(cands)
    i = 0
    while i < len(out) - 1:
        a, b = out[i], out[i + 1]
        if a.kind == "vertebra" and b.kind == "vertebra":
            # Judged against the bodies around the pair, not the whole column: in a whole-spine view two
            # cervical bodies together are smaller than one lumbar body.
            around = [c for c in (*out[max(0, i - 2) : i], *out[i + 2 : i + 4]) if c.kind == "vertebra"]
            ref = around if len(around) >= 2 else bodies
            typical_h = float(np.median([c.height_mm for c in ref]))
            typical_v = float(np.median([c.volume_voxels for c in ref]))
            d = float(np.linalg.norm((b.center_mm - a.center_mm)[1:]))
            if a.volume_voxels + b.volume_voxels <= 1.6 * typical_v and d < 0.75 * typical_h:
                merged = a.mask | b.mask
                out[i : i + 2] = [VertebraInstance("vertebra", merged, component_centre_mm(merged, sp), 0.0)]
                continue
        i += 1
    return out


def _absorb_small_pieces(
    cands: list[VertebraInstance], sp: NDArray[np.float64], rows: int
) -> list[VertebraInstance]:
    """Give a piece far smaller than the bodies around it to its nearer neighbour (a body or C2).

    Splitting and the network's own gaps leave pieces of one vertebra (the lower lip of C2, a corner of a
    body cut off by a bright vein) that are too large to be specks; counted as vertebrae they shift every
    name below them. A body cut by the top or bottom of the image is small for a good reason and stays,
    and nothing is given to the sacrum (a small L5 above it is still L5).
    """
    out = list(cands)
    changed = True
    while changed:
        changed = False
        for i, c in enumerate(out):
            if c.kind != "vertebra" or c.points[:, 1].min() <= 2 or c.points[:, 1].max() >= rows - 3:
                continue
            local = _neighbour_volume(out, i)
            if not np.isfinite(local) or c.volume_voxels >= 0.35 * local:
                continue
            options = [j for j in (i - 1, i + 1) if 0 <= j < len(out) and out[j].kind in ("vertebra", "c2")]
            if not options:
                continue
            j = min(options, key=lambda k: float(np.linalg.norm((out[k].center_mm - c.center_mm)[1:])))
            merged = out[j].mask | c.mask
            out[j] = VertebraInstance(out[j].kind, merged, component_centre_mm(merged, sp), 0.0)
            del out[i]
            changed = True
            break
    return out


#: A body whose centre lies less than this share of the body spacing above the sacrum's centre, touching it,
#: is part of the sacrum. The last lumbar body's centre lies 1.1-1.9 spacings above the sacrum's (phantoms):
#: the sacrum's centre is deep below S1's endplate.
_SACRAL_PIECE_SPACINGS = 0.5


def _join_sacral_pieces(
    cands: list[VertebraInstance], sp: NDArray[np.float64], warnings: list[str]
) -> list[VertebraInstance]:
    """Give to the sacrum a "body" that touches it and sits level with the sacrum's own centre.

    Why: the network colours the top of S1 as body now and then (a real case with a cross-validation
    model); counted as a vertebra, that piece became "L5" and every name above moved up a level. A last
    lumbar body sits a whole spacing or more above the sacrum's centre, so it never qualifies.
    """
    s = next((i for i, c in enumerate(cands) if c.kind == "sacrum"), None)
    above = [c for c in cands[:s] if c.kind == "vertebra"] if s is not None else []
    if s is None or len(above) < 3:
        return cands
    sacrum = cands[s]
    spacing = float(np.median(np.diff([c.center_mm[1] for c in above[-4:]])))
    level = [c for c in above if sacrum.center_mm[1] - c.center_mm[1] < _SACRAL_PIECE_SPACINGS * spacing]
    if not level:  # the usual case: no full-volume dilation needed
        return cands
    grown = ndimage.binary_dilation(sacrum.mask)
    pieces = [c for c in level if (grown & c.mask).any()]
    if not pieces:
        return cands
    merged = sacrum.mask.copy()
    for c in pieces:
        merged |= c.mask
    warnings.append(f"gave {len(pieces)} body-like piece(s) level with the sacrum to the sacrum")
    joined = VertebraInstance("sacrum", merged, component_centre_mm(merged, sp), sacrum.height_mm)
    out = [joined if c is sacrum else c for c in cands if not any(c is p for p in pieces)]
    return sorted(out, key=lambda v: v.center_mm[1])


def _assign_discs(
    disc_mask: NDArray[np.bool_],
    vertebrae: list[VertebraInstance],
    sp: NDArray[np.float64],
    min_voxels: int,
) -> list[DiscInstance]:
    """Give every disc voxel to the gap whose stretch of the centre polyline is nearest to it.

    A voxel far from the column belongs to no gap. "Far" is judged in two parts, because a disc is
    wider than it is deep and its size follows the vertebrae around it: in the sagittal plane, against
    the spacing of the two vertebrae bounding its gap (a lumbar gap is twice a cervical one in a
    whole-spine view; one median spacing for the column cut the front and back of lumbar discs), and
    across the slices, against the width of those vertebrae (a lumbar disc reaches 25 mm to each side).
    """
    idx = np.argwhere(disc_mask)
    if len(idx) == 0 or not vertebrae:
        return []
    pts = idx * sp
    centers = np.array([v.center_mm for v in vertebrae])
    if len(centers) >= 2:
        step = np.median(np.linalg.norm(np.diff(centers, axis=0), axis=1))
        top_dir = centers[0] - centers[1]
        bottom_dir = centers[-1] - centers[-2]
    else:
        step = 30.0
        top_dir = np.array([0.0, -1.0, 0.0])
        bottom_dir = np.array([0.0, 1.0, 0.0])
    top = centers[0] + top_dir / (np.linalg.norm(top_dir) + 1e-9) * step
    bottom = centers[-1] + bottom_dir / (np.linalg.norm(bottom_dir) + 1e-9) * step
    nodes = np.vstack([top, centers, bottom])
    # Per segment of the polyline (segment s lies in gap s - 1): how far in the plane and to the side a
    # voxel of its gap may lie.
    half_width = np.array([_lateral_half_width(v, sp) for v in vertebrae])
    half_width = np.concatenate([half_width[:1], half_width, half_width[-1:]])
    seg_len = np.linalg.norm(np.diff(nodes, axis=0), axis=1)
    if len(seg_len) >= 3:
        # The added end segments are one median spacing long: the real segment next to them is closer.
        seg_len[0], seg_len[-1] = seg_len[1], seg_len[-2]
    reach = np.maximum(0.8 * seg_len, 15.0)
    aside = np.maximum(half_width[:-1], half_width[1:]) + _DISC_LATERAL_MARGIN_MM
    samples, gap_of = [], []
    for s in range(len(nodes) - 1):
        t = np.linspace(0.0, 1.0, 24, endpoint=False)[:, None]
        samples.append(nodes[s] + t * (nodes[s + 1] - nodes[s]))
        gap_of.append(np.full(len(t), s - 1))  # segment 0 lies above vertebra 0: gap -1
    sample_pts = np.vstack(samples)
    # Nearest in the sagittal plane: the slice axis is judged on its own, against the vertebrae's width.
    tree = cKDTree(sample_pts[:, 1:])
    gaps = np.concatenate(gap_of)
    in_plane, nearest = tree.query(pts[:, 1:])
    lateral = np.abs(pts[:, 0] - sample_pts[nearest, 0])
    assigned = gaps[nearest]
    # Disc-like voxels far from the centre line (beyond the first and last vertebra, or off the
    # column) belong to no gap: without this, an unsegmented stretch of spine above the top vertebra
    # was all given the name of the one disc above it.
    segment = assigned + 1
    assigned[(in_plane > reach[segment]) | (lateral > aside[segment])] = -99
    discs: list[DiscInstance] = []
    for g in np.unique(assigned):
        if g == -99:
            continue
        sel = idx[assigned == g]
        if len(sel) < min_voxels:
            continue
        mask = np.zeros(disc_mask.shape, dtype=bool)
        mask[tuple(sel.T)] = True
        upper = int(g)
        discs.append(DiscInstance(upper, upper + 1, mask, sel.mean(axis=0) * sp))
    return discs


def _add_hidden_discs(
    discs: list[DiscInstance],
    classes: NDArray[np.integer],
    weak_disc: NDArray[np.bool_],
    vertebrae: list[VertebraInstance],
    sp: NDArray[np.float64],
    min_voxels: int,
) -> list[DiscInstance]:
    """Give a gap its disc back where the network coloured most of that disc as bone.

    Why: a thin or dark disc (a cervical disc in a whole-spine view, an L5/S1 disc on STIR, dark like
    the fat-suppressed sacrum) is often not the winning class, though its probability still rises
    between the two bones; the bodies were separated there (``weak_disc``), but the voxels went back to
    the bones and the disc was reported as covered by its neighbour (82 of 8398 structures on 300
    phantoms with v7; this gives back 24 of them, not the L5/S1 discs outlined as sacrum on STIR, whose
    disc probability mostly stays under the cut). Only a gap where these cut voxels
    outnumber the voxels shown as disc takes them: where the disc shows, the cut voxels are the blurred
    rim of the bones and stay bone.
    """
    taken = np.zeros(classes.shape, dtype=bool)
    for v in vertebrae:
        taken |= v.mask
    bone = (classes == BODY) | (classes == C2) | (classes == SACRUM)
    hidden = _assign_discs(weak_disc & bone & ~taken, vertebrae, sp, min_voxels)
    by_gap = {d.upper: d for d in discs}
    for h in hidden:
        if not 0 <= h.upper < len(vertebrae) - 1:
            continue  # beyond the first or last vertebra: no second bone to bound a disc
        if vertebrae[h.upper].kind == "c1" or vertebrae[h.lower].kind in ("c1", "c2"):
            continue  # no disc between C1 and C2
        shown = by_gap.get(h.upper)
        n_hidden = int(h.mask.sum())
        n_shown = int(shown.mask.sum()) if shown is not None else 0
        if shown is None:
            discs.append(DiscInstance(h.upper, h.lower, h.mask, h.center_mm, hidden=h.mask))
        elif n_shown < n_hidden:
            shown.center_mm = (shown.center_mm * n_shown + h.center_mm * n_hidden) / (n_shown + n_hidden)
            shown.mask = shown.mask | h.mask
            shown.hidden = h.mask
    discs.sort(key=lambda d: d.upper)
    return discs


#: How far beyond the wider of its two vertebrae (to one side) a disc voxel may lie: the annulus bulges
#: past the body's edge, and a body's outermost slice may be partly volume.
_DISC_LATERAL_MARGIN_MM = 6.0


def _lateral_half_width(v: VertebraInstance, sp: NDArray[np.float64]) -> float:
    """Half the extent of a vertebra across the sagittal slices, in millimetres (at least one slice)."""
    slices = v.points[:, 0]
    return max(float(slices.max() - slices.min() + 1) * sp[0] / 2.0, float(sp[0]))
