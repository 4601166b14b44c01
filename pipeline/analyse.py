"""The single entry point: one sagittal :class:`Volume` in, one :class:`SpineAnalysis` out.

The stages run in order on plain arrays: working grid (:mod:`pipeline.preprocess`) -> class
probabilities (:mod:`pipeline.inference`) -> instances (:mod:`pipeline.instances`) -> level names
(:mod:`pipeline.levels`) -> label map back on the source grid. Going back is done with the class
*probabilities* interpolated to every source voxel (smooth, sub-voxel boundaries) and the instance of
each voxel taken from the nearest instance on the working grid, so that a 0.5 mm source grid gets
0.5 mm boundaries from a 1.25 mm network.

The bone and disc boundaries come from two passes of the network, on the 1.25 mm working grid and on a
finer one (:data:`FINE_SPACING_MM`), averaged: the network was trained on anatomy scaled 0.8-1.25 times, so
the finer grid is within what it knows, and it gives a cervical disc four or five pixels instead of three.
The canal and cord keep the 1.25 mm pass: on the finer grid the network draws the cord's edge against the
CSF worse (measured: cord Dice 0.877 -> 0.857 on 200 phantoms when averaged). Instances and names are
still read from the 1.25 mm pass alone, where their rules were set.

The network sees one slice at a time, so each slice's boundaries carry their own noise. The boundary
probabilities are therefore blended with the neighbouring slices' (:func:`smooth_across_slices`), as a
radiologist reads an uncertain edge with the slices either side of it in mind.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from pipeline import labels as L
from pipeline.hidden_body import carve_hidden_body
from pipeline.inference import LoadedModel, get_model, undo_class_weights
from pipeline.instances import SpineInstances, VertebraInstance, separate_instances
from pipeline.levels import Naming, name_vertebrae
from pipeline.model import BODY, C1, C2, CANAL, CORD, DISC, RIB, SACRUM
from pipeline.preprocess import WorkingGrid, _linear_axis, make_working_grid, working_image
from pipeline.result import (
    LevelFindings,
    QualityControl,
    SpineAnalysis,
    Structure,
    VertebraFindings,
)
from pipeline.rib_net import RibClassifier, flags_from_probabilities, get_rib_classifier
from pipeline.ribs import rib_flags, rib_voxels_per_vertebra
from pipeline.sacrum_border import redraw_sacrum_border
from pipeline.sacrum_top import join_sacrum_top
from pipeline.volume import Volume

log = logging.getLogger(__name__)

ALGORITHM_NAME = "dicomnode-spine-unet2d"

#: How far (working-grid voxels) a voxel may lie from an instance and still be given to it.
_TERRITORY_VOXELS = 4.0
#: In-plane spacing of the second, finer pass whose probabilities are averaged into the boundaries.
FINE_SPACING_MM = 1.0
#: Weight of each neighbouring slice in the boundary probabilities (:func:`smooth_across_slices`).
SLICE_SMOOTHING = 0.15
#: Channels whose probabilities stay the network's working-grid output on their own slice, neither averaged
#: with the fine pass nor blended across slices: the cord's edge against the CSF got worse both ways (cord
#: Dice 0.877 -> 0.857 on 200 phantoms with the fine pass; 0.864 -> 0.846 on phantoms 200-299 blended, the
#: cord being one to three slices wide).
_FIRST_PASS_ONLY = (CANAL, CORD)


def analyse(
    volume: Volume,
    model: LoadedModel | None = None,
    fine_pass: bool = True,
    rib_classifier: RibClassifier | None = None,
    rib_evidence: bool = True,
) -> SpineAnalysis:
    """Segment, separate and name every vertebra and disc of a sagittal series, on its own grid.

    ``fine_pass`` adds the second pass on the :data:`FINE_SPACING_MM` grid to the voxel boundaries (about
    twice the network time); without it the result is the 1.25 mm pass alone. ``rib_classifier`` judges
    which vertebrae carry a rib (None: the bundled one, when shipped); ``rib_evidence=False`` names
    without any rib evidence.
    """
    model = model or get_model()
    grid = make_working_grid(volume, model.config.spacing_mm)
    image = working_image(volume, grid)
    probs = model.predict(image)
    classes = probs.argmax(axis=1).astype(np.uint8)
    inst = separate_instances(classes, grid.spacing, disc_probability=probs[:, DISC])
    carved = carve_hidden_body(inst, probs[:, BODY], image, grid.spacing)
    # A body just carved out of the sacrum has, by construction, no disc below it and a broad face on the
    # sacrum: joining it back would undo the step (real case VB2_07 turned by 15 degrees).
    inst = join_sacrum_top(inst, grid.spacing) if carved is inst else carved
    found = inst.vertebrae
    kinds = [v.kind for v in found]
    ribs = None
    if rib_evidence:
        rib_classifier = rib_classifier or get_rib_classifier()
        if rib_classifier is not None:
            p_rib = rib_classifier.probabilities(image, grid.spacing, [v.center_mm for v in found])
            ribs = flags_from_probabilities(p_rib, kinds)
        elif probs.shape[1] > RIB:
            ribs = vertebra_ribs(classes, found, kinds, grid.spacing)
    naming = name_vertebrae(kinds, [v.center_mm for v in found], [v.volume_voxels for v in found], ribs)
    inst = redraw_sacrum_border(inst, image, grid.spacing)
    if fine_pass and grid.target_spacing > FINE_SPACING_MM:
        probs = _with_fine_pass(probs, fine_probabilities(volume, grid, model))
    # The instance and naming rules were set on the network's own output; only the voxel boundaries drawn
    # from here on use the calibrated probabilities.
    probs = undo_class_weights(probs, model.class_weights)
    probs = smooth_across_slices(probs, SLICE_SMOOTHING)
    return assemble(volume, grid, probs, inst, naming, model.version)


def vertebra_ribs(
    classes: NDArray[np.uint8], found: list[VertebraInstance], kinds: list[str], spacing: tuple[float, float, float]
) -> list[bool | None]:
    """Per vertebra candidate: carries a rib (True), surely not (False) or cannot tell (None)."""
    voxels = rib_voxels_per_vertebra(classes == RIB, [v.center_mm for v in found], spacing)
    return rib_flags(voxels, kinds)


def smooth_across_slices(probs: NDArray[np.float32], weight: float) -> NDArray[np.float32]:
    """Each slice's probabilities blended with its two neighbours' (``weight`` each; edges repeat themselves).

    Why: the 2-D network judges every slice on its own, and a voxel where two classes nearly tie goes one
    way or the other by that slice's noise. Blending in the slices either side settles such voxels the way
    their neighbours lean (a slice that narrowly loses a structure both its neighbours show gets it back);
    where the network is sure, nothing moves. The canal and cord are not blended (:data:`_FIRST_PASS_ONLY`).
    Measured on v7's cached probabilities, phantoms 200-299 (where the weight was chosen) and then 0-199:
    disc Dice median 0.837 -> 0.842 and 0.846 -> 0.854, body 0.916 -> 0.920 and 0.917 -> 0.920, canal
    0.918 -> 0.915 and 0.918 -> 0.916 (its neighbours' edges move), cord unchanged. A disc's ridge (its
    most likely row in each column, where disc is the winning class) keeps its own probabilities: a thin
    cervical disc between two bodies would otherwise be outvoted by bone from the slice beside it and
    reported as covered by its body (one such disc of 2793 on 200-299; with the ridge kept, names change
    by -1 there and by 0 on 0-199).
    """
    if weight <= 0 or probs.shape[0] < 2:
        return probs
    out = probs * (1.0 - 2.0 * weight)
    out[1:] += weight * probs[:-1]
    out[:-1] += weight * probs[1:]
    out[0] += weight * probs[0]
    out[-1] += weight * probs[-1]
    disc = probs[:, DISC]
    ridge = probs.argmax(axis=1) == DISC
    ridge[:, 1:] &= disc[:, 1:] >= disc[:, :-1]  # not below the row above (the first row has none)
    ridge[:, :-1] &= disc[:, :-1] >= disc[:, 1:]  # nor below the row beneath
    # Channels last, so that a (slices, rows, cols) mask picks whole probability vectors.
    out.transpose(0, 2, 3, 1)[ridge] = probs.transpose(0, 2, 3, 1)[ridge]
    return _keep_first_pass(out, probs)


def _keep_first_pass(out: NDArray[np.float32], first: NDArray[np.float32]) -> NDArray[np.float32]:
    """``out`` with the :data:`_FIRST_PASS_ONLY` channels taken from ``first``, renormalised (in place)."""
    keep = list(_FIRST_PASS_ONLY)
    out[:, keep] = first[:, keep]
    out /= out.sum(axis=1, keepdims=True)
    return out


def _with_fine_pass(probs: NDArray[np.float32], fine: NDArray[np.float32]) -> NDArray[np.float32]:
    """The two passes averaged, except the :data:`_FIRST_PASS_ONLY` channels (renormalised to sum to one).

    Computed in place in ``fine``: a 25 x 640 x 640 series holds several such arrays at once already.
    """
    fine += probs
    fine *= 0.5
    return _keep_first_pass(fine, probs)


def fine_probabilities(volume: Volume, grid: WorkingGrid, model: LoadedModel) -> NDArray[np.float32]:
    """The network's probabilities on the finer grid, resampled onto ``grid`` (both start at voxel 0)."""
    fine = make_working_grid(volume, FINE_SPACING_MM)
    probs = model.predict(working_image(volume, fine))
    scale = grid.target_spacing / fine.target_spacing
    rows, cols = np.arange(grid.shape[1]) * scale, np.arange(grid.shape[2]) * scale
    out = np.empty((probs.shape[0], probs.shape[1], *grid.shape[1:]), dtype=np.float32)
    for k in range(probs.shape[0]):  # slice by slice: the resampling's temporaries stay one slice large
        out[k] = _linear_axis(_linear_axis(probs[k], rows, axis=1), cols, axis=2)
    return out


def instance_label_map(
    inst: SpineInstances, naming: Naming, shape: tuple[int, ...]
) -> tuple[NDArray[np.uint8], NDArray[np.uint8], NDArray[np.uint8], dict[int, tuple[str, str]]]:
    """Working-grid maps of vertebra labels, disc labels and hidden-disc labels, and every disc label's name.

    The hidden-disc map holds the disc voxels coloured as bone (:attr:`DiscInstance.hidden`): the label
    map gives them to their disc whatever the probabilities say.
    """
    vert = np.zeros(shape, dtype=np.uint8)
    for v, name in zip(inst.vertebrae, naming.names, strict=True):
        if name in L.VERTEBRA_LABELS:
            vert[v.mask] = L.VERTEBRA_LABELS[name]
    disc = np.zeros(shape, dtype=np.uint8)
    hidden = np.zeros(shape, dtype=np.uint8)
    disc_names: dict[int, tuple[str, str]] = {}
    for d in inst.discs:
        upper, lower = naming.disc_between(d.upper, d.lower)
        if upper == "C1" or lower in ("C1", "C2"):
            # There is no disc between C1 and C2: disc-like signal there is the C1 ring / dens joint.
            vert[d.mask & (vert == 0)] = L.VERTEBRA_LABELS["C1"]
            continue
        if upper not in L.VERTEBRA_LABELS or upper in ("S1", "Co") or lower == "?":
            continue
        label = L.disc_label(upper)
        disc[d.mask] = label
        if d.hidden is not None:
            hidden[d.hidden] = label
        disc_names[label] = (upper, lower)
    return vert, disc, hidden, disc_names


def _territory(labels: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """Extend each label to the voxels nearest to it, up to a few voxels away (0 beyond)."""
    if not labels.any():
        return labels
    # Huge distance across slices: a voxel only takes a label from its own slice.
    dist, idx = ndimage.distance_transform_edt(labels == 0, sampling=(1e3, 1.0, 1.0), return_indices=True)
    out = labels[tuple(idx)]
    out[dist > _TERRITORY_VOXELS] = 0
    return out


def _to_source_labels(
    grid: WorkingGrid,
    probs: NDArray[np.float32],
    lookup: Callable[[NDArray[np.uint8], NDArray[np.intp], NDArray[np.intp], int], NDArray[np.uint8]],
) -> NDArray[np.uint8]:
    """Source-grid label map, one slice at a time so 640 x 640 series stay within memory."""
    canon = grid.canon
    canon_shape = tuple(canon.source_shape[a] for a in canon.perm)
    scale_r = grid.canonical_spacing[1] / grid.target_spacing
    scale_c = grid.canonical_spacing[2] / grid.target_spacing
    rows = np.arange(canon_shape[1]) * scale_r
    cols = np.arange(canon_shape[2]) * scale_c
    near_r = np.clip(np.rint(rows).astype(np.intp), 0, grid.shape[1] - 1)
    near_c = np.clip(np.rint(cols).astype(np.intp), 0, grid.shape[2] - 1)
    out = np.zeros(canon_shape, dtype=np.uint8)
    for k in range(canon_shape[0]):
        p = _linear_axis(probs[k], rows, axis=1)
        p = _linear_axis(p, cols, axis=2)
        cls = p.argmax(axis=0).astype(np.uint8)
        out[k] = lookup(cls, near_r, near_c, k)
    return canon.inverse(out)


def assemble(
    volume: Volume,
    grid: WorkingGrid,
    probs: NDArray[np.float32],
    inst: SpineInstances,
    naming: Naming,
    version: str,
) -> SpineAnalysis:
    """Build the source-grid label map and the result object from the working-grid stages."""
    vert, disc, hidden, disc_names = instance_label_map(inst, naming, grid.shape)
    vert_t = _territory(vert)
    disc_t = _territory(disc)
    any_hidden = bool(hidden.any())  # most series have none: skip the per-slice lookup

    def lookup(cls: NDArray[np.uint8], r: NDArray[np.intp], c: NDArray[np.intp], k: int) -> NDArray[np.uint8]:
        v = vert_t[k][np.ix_(r, c)]
        d = disc_t[k][np.ix_(r, c)]
        out = np.zeros(cls.shape, dtype=np.uint8)
        bone = (cls == BODY) | (cls == C2) | (cls == SACRUM) | (cls == C1)
        out[bone] = v[bone]
        out[cls == DISC] = d[cls == DISC]
        if any_hidden:
            h = hidden[k][np.ix_(r, c)]
            take = bone & (h > 0)
            out[take] = h[take]
        out[cls == CANAL] = L.CANAL
        out[cls == CORD] = L.CORD
        return out

    label_map = _to_source_labels(grid, probs, lookup)
    confidence_map = probs.max(axis=1)
    structures = _structures(volume, label_map, naming, vert, disc, confidence_map)
    levels = [
        LevelFindings(level=L.disc_name(up, low), disc_label=lab, upper_vertebra=up, lower_vertebra=low)
        for lab, (up, low) in sorted(disc_names.items(), key=lambda kv: L.SPINE_ORDER.index(kv[1][0]))
    ]
    present = {s.label for s in structures}
    levels = [lv for lv in levels if lv.disc_label in present]
    vertebrae = [VertebraFindings(name=s.name, label=s.label) for s in structures if s.kind == "vertebra"]
    warnings = list(naming.warnings) + list(inst.warnings)
    if grid.canon.max_obliquity_deg > 20:
        warnings.append(f"series is {grid.canon.max_obliquity_deg:.0f} degrees oblique")
    if not inst.vertebrae:
        warnings.append("no vertebra found: is this a sagittal spine series?")
    qc = QualityControl(
        naming_certain=bool(naming.certain and inst.vertebrae),
        anchors=naming.anchors,
        region=naming.region,
        warnings=warnings,
        naming_basis=naming.basis if inst.vertebrae else "none",
        ribs=dict(naming.ribs),
    )
    return SpineAnalysis(label_map, structures, levels, vertebrae, qc, ALGORITHM_NAME, version)


def _structures(
    volume: Volume,
    label_map: NDArray[np.uint8],
    naming: Naming,
    vert_w: NDArray[np.uint8],
    disc_w: NDArray[np.uint8],
    confidence_w: NDArray[np.float32],
) -> list[Structure]:
    present = np.unique(label_map)
    present = present[present > 0]
    if len(present) == 0:
        return []
    counts = ndimage.sum_labels(np.ones(label_map.shape, np.int32), label_map, index=present)
    centres = np.array(ndimage.center_of_mass(np.ones(label_map.shape, np.int8), label_map, index=present))
    certain_factor = 1.0 if naming.certain else 0.5
    out: list[Structure] = []
    for lab, count, centre in zip(present, counts, centres, strict=True):
        lab = int(lab)
        working = (vert_w == lab) if L.is_vertebra(lab) else (disc_w == lab) if L.is_disc(lab) else None
        seg_conf = float(confidence_w[working].mean()) if working is not None and working.any() else 0.9
        if L.is_vertebra(lab):
            kind, name, conf = "vertebra", L.VERTEBRA_NAMES[lab], seg_conf * certain_factor
        elif L.is_disc(lab):
            kind, conf = "disc", seg_conf * certain_factor
            upper = L.VERTEBRA_NAMES[lab - L.DISC_OFFSET]
            name = _disc_name_of(upper, naming)
        elif lab == L.CANAL:
            kind, name, conf = "canal", L.label_name(lab), seg_conf
        elif lab == L.CORD:
            kind, name, conf = "cord", L.label_name(lab), seg_conf
        else:
            continue
        lps = volume.index_to_lps(np.asarray(centre))
        out.append(
            Structure(
                label=lab,
                name=name,
                kind=kind,  # type: ignore[arg-type]
                centroid_lps=(float(lps[0]), float(lps[1]), float(lps[2])),
                centroid_index=(float(centre[0]), float(centre[1]), float(centre[2])),
                voxel_count=int(count),
                confidence=round(float(conf), 3),
            )
        )
    return out


def _disc_name_of(upper: str, naming: Naming) -> str:
    names = naming.names
    if upper in names:
        i = names.index(upper)
        up, low = naming.disc_between(i, i + 1)
        return L.disc_name(up, low)
    return L.label_name(L.disc_label(upper))
