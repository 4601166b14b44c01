"""Rasterise the anatomy into a tissue map and a label map on a :class:`Grid`.

Painter's algorithm, back to front: soft-tissue background, bony canal (epidural fat), dural sac with
cord and roots, discs (with bulges and herniations, so they take the canal's place where they bulge into
it), ligamentum flavum, vertebral bodies (with endplate findings), posterior elements. Every shape is an
implicit function of the block's local coordinates in its own frame, evaluated only on the grid block
its bounding box covers. The same painter samples the image grid, the label grid and the fine grids
on which the truth is measured, so truth and label map can never disagree on a definition.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from numpy.typing import NDArray

from pipeline.labels import CANAL, CORD, SACRUM
from pipeline.phantom.grid import Block, Grid
from pipeline.phantom.layout import Disc, Spine, Vertebra, disc_frame
from pipeline.phantom.layout import concavity as endplate_concavity
from pipeline.phantom.ribs import carries_rib, paint_ribs
from pipeline.phantom.tissues import Tissue

POSTERIOR_LABEL = 203  # pipeline.labels.POSTERIOR_ELEMENTS
CORTEX_MM = 0.8
WALL_MM = 0.55
F32 = np.float32
_NUCLEUS = (Tissue.NUCLEUS_1, Tissue.NUCLEUS_2, Tissue.NUCLEUS_3, Tissue.NUCLEUS_4, Tissue.NUCLEUS_5)


@dataclass
class Canvas:
    """The arrays one painting pass fills; ``tissue`` is None for a label-only pass."""

    grid: Grid
    label: NDArray[np.uint8]
    tissue: NDArray[np.uint8] | None

    def put(self, block: Block, mask: NDArray[np.bool_], label: int, tissue: int | NDArray[np.uint8]) -> None:
        """Paint ``mask`` (block-shaped) with one label and a tissue value or a block-shaped tissue array."""
        self.label[block][mask] = label
        if self.tissue is not None:
            if isinstance(tissue, np.ndarray):
                self.tissue[block][mask] = np.broadcast_to(tissue, mask.shape)[mask]
            else:
                self.tissue[block][mask] = tissue


def _box(centre: NDArray, frame: NDArray, half: NDArray) -> tuple[NDArray, NDArray]:
    """Axis-aligned body-space bounds of an oriented box (local half sizes ``half``)."""
    extent = np.abs(frame) @ np.asarray(half, dtype=np.float64)
    return centre - extent, centre + extent


def _canal_offset(v: Vertebra) -> float:
    """Local v of the dural sac's centre behind a vertebral body (1 mm of PLL and epidural space)."""
    return -v.depth / 2 - 1.0 - v.canal_ap / 2


def _epidural(v: Vertebra) -> float:
    """Posterior epidural fat thickness: generous in the lumbar spine, thin in the neck."""
    return {"C": 1.2, "T": 2.0}.get(v.name[0], 3.0) if v.kind != "sacrum" else 3.0


# --- vertebral bodies -----------------------------------------------------------------------------------


def paint_body(canvas: Canvas, v: Vertebra, disc_above: int, disc_below: int, detail: bool) -> None:
    """A vertebral body: superellipse cross-section (round in front, flat behind), concave endplates,
    cortical shell, marrow with endplate findings, a wedge when fractured."""
    grid = canvas.grid
    block = grid.block(*_box(v.centre, v.frame, [v.width / 2 + 1, v.depth / 2 + 1, v.height / 2 + 1]))
    if block is None:
        return
    u, vv, w = grid.local(block, v.centre, v.frame)
    half_w, half_d, half_h = v.width / 2, v.depth / 2, v.height / 2
    hz = w * F32(1 / half_h)
    waist = F32(1.0) - F32(0.06) * (F32(1.0) - np.minimum(hz * hz, F32(1.0)))
    au = u / (F32(half_w) * waist)
    av = vv / F32(half_d)
    posterior = vv < 0
    av = np.where(posterior, av, av / waist)
    au2 = au * au
    av2 = av * av
    r = np.where(posterior, au2 * au2 + av2 * av2, au2 + av2)
    concavity = F32(endplate_concavity(v.kind)) * (F32(1.0) - np.minimum(r, F32(1.0)))
    top = F32(half_h) - concavity
    if v.wedge_loss:
        top = top - F32(v.wedge_loss * v.height) * np.clip(vv / F32(v.depth) + F32(0.5), 0, 1)
    bottom = F32(-half_h) + concavity
    inside = (r <= 1.0) & (w <= top) & (w >= bottom)
    if v.kind != "sacrum":
        # rounded rims: where the wall meets an endplate the corner is cut by a quarter circle
        rho = F32(0.07 * v.height)
        rim = np.where(posterior, np.sqrt(np.sqrt(r)), np.sqrt(r))
        to_wall = (F32(1) - rim) * F32(half_d)
        to_plate = np.minimum(top - w, w - bottom)
        a, b = np.maximum(rho - to_wall, F32(0)), np.maximum(rho - to_plate, F32(0))
        inside &= a * a + b * b <= rho * rho
    defects = []
    for endplate, sign, disc in ((v.superior, 1.0, disc_above), (v.inferior, -1.0, disc_below)):
        if endplate.schmorl is not None and disc:
            su, sv, radius = endplate.schmorl
            dz = w - F32(sign * _surface(v, su, sv, sign > 0))
            d2 = (u - F32(su)) ** 2 + (vv - F32(sv)) ** 2 + dz * dz
            defects.append((d2, radius, _NUCLEUS[min(max(endplate.schmorl_grade, 1), 5) - 1], disc))
    if canvas.tissue is None or not detail:
        canvas.put(block, inside, v.label, Tissue.MARROW)
        for d2, radius, fill, disc in defects:
            canvas.put(block, inside & (d2 <= radius * radius), disc, fill)
        return
    shell = F32(CORTEX_MM)
    # the walls' cortex is thinner than the endplates' (real walls barely show, endplates do)
    inner_r = np.where(posterior, F32((1 - WALL_MM / half_d) ** 4), F32((1 - WALL_MM / half_d) ** 2))
    core = (r <= inner_r) & (w <= top - shell) & (w >= bottom + shell)
    tissue = np.full(inside.shape, Tissue.CORTEX, dtype=np.uint8)
    tissue[core] = Tissue.OEDEMA if v.oedema else Tissue.MARROW
    for endplate, sign in ((v.superior, 1.0), (v.inferior, -1.0)):
        if endplate.modic:
            near = (w >= top - F32(endplate.modic_depth)) if sign > 0 else (w <= bottom + F32(endplate.modic_depth))
            front = vv >= F32(half_d - endplate.modic_extent * v.depth)
            tissue[core & near & front] = (Tissue.MODIC_1, Tissue.MODIC_2, Tissue.MODIC_3)[endplate.modic - 1]
    # Basivertebral vein: the T2-bright notch in the middle of the posterior wall.
    vein = core & (vv < F32(-half_d + 4.5)) & (np.abs(u) < 2.5) & (np.abs(w) < 1.3)
    tissue[vein] = Tissue.VEIN
    canvas.put(block, inside, v.label, tissue)
    # An endplate defect (Schmorl node): disc nucleus (the adjacent disc's signal) in a depression of the
    # endplate, ringed by 1 mm of sclerotic bone (Kyere et al., Eur Spine J 2012). The node is disc
    # material, so the label map gives it the disc's label: the body's outline dips where the disc enters.
    for d2, radius, fill, disc in defects:
        canvas.put(block, inside & (d2 <= (radius + 1.0) ** 2), v.label, Tissue.CORTEX)
        canvas.put(block, inside & (d2 <= radius * radius), disc, fill)


def _surface(v: Vertebra, u: float, along_v: float, superior: bool) -> float:
    """Distance (mm, >= 0) from the body's centre plane to its superior / inferior endplate surface at
    (u, v): the half height less the concavity there (and the wedge's loss on a fractured top), the same
    shape :func:`paint_body` draws."""
    au, av = u / (v.width / 2), along_v / (v.depth / 2)
    r = au**4 + av**4 if along_v < 0 else au * au + av * av
    depth = v.height / 2 - endplate_concavity(v.kind) * (1.0 - min(r, 1.0))
    if superior and v.wedge_loss:
        depth -= v.wedge_loss * v.height * float(np.clip(along_v / v.depth + 0.5, 0.0, 1.0))
    return depth


# --- discs ----------------------------------------------------------------------------------------------


def _disc_geometry(up: Vertebra, lo: Vertebra) -> dict:
    """Disc frame plus the linear maps from local coordinates to the distances from both endplates."""
    centre, frame = disc_frame(up, lo)
    # distance below the upper endplate: -((p - c_up) . w_up + h_up / 2), p = centre + frame @ q
    top_const = -(float((centre - up.centre) @ up.frame[:, 2]) + up.height / 2)
    top_lin = -(frame.T @ up.frame[:, 2])
    bot_const = float((centre - lo.centre) @ lo.frame[:, 2]) - lo.height / 2
    bot_lin = frame.T @ lo.frame[:, 2]
    local = frame.T
    return {
        "centre": centre,
        "frame": frame,
        "top": (top_const, top_lin),
        "bottom": (bot_const, bot_lin),
        "post_up": float(local[1] @ (up.posterior_inferior - centre)),
        "post_lo": float(local[1] @ (lo.posterior_superior - centre)),
        "ant_up": float(local[1] @ (up.point(0, up.depth / 2, -up.height / 2) - centre)),
        "ant_lo": float(local[1] @ (lo.point(0, lo.depth / 2, lo.height / 2) - centre)),
        "half_w": 0.25 * (up.width + lo.width),
        "post_w_up": float(local[2] @ (up.posterior_inferior - centre)),
        "post_w_lo": float(local[2] @ (lo.posterior_superior - centre)),
    }


def paint_disc(canvas: Canvas, disc: Disc, up: Vertebra, lo: Vertebra, detail: bool, label: int | None = None) -> None:
    """Annulus and nucleus between two endplates, Pfirrmann appearance, bulge and herniation."""
    geo = _disc_geometry(up, lo)
    grid = canvas.grid
    reach = max(up.depth, lo.depth) / 2 + abs(disc.slip) + 3 + disc.bulge
    block = grid.block(*_box(geo["centre"], geo["frame"], [geo["half_w"] + 4, reach, disc.height / 2 + 4]))
    if block is None:
        return
    value = disc.label if label is None else label
    u, v, w = grid.local(block, geo["centre"], geo["frame"])
    (tc, tl), (bc, bl) = geo["top"], geo["bottom"]
    s_top = F32(tc) + F32(tl[0]) * u + F32(tl[1]) * v + F32(tl[2]) * w
    s_bot = F32(bc) + F32(bl[0]) * u + F32(bl[1]) * v + F32(bl[2]) * w
    height = np.maximum(s_top + s_bot, F32(0.3))
    f = np.clip((s_bot - s_top) / height, -1, 1)
    t = (f + F32(1)) * F32(0.5)
    v_post = F32(geo["post_lo"]) + t * F32(geo["post_up"] - geo["post_lo"])
    v_ant = F32(geo["ant_lo"]) + t * F32(geo["ant_up"] - geo["ant_lo"])
    half_d = (v_ant - v_post) * F32(0.5)
    vn = (v - (v_ant + v_post) * F32(0.5)) / half_d
    un = u / F32(geo["half_w"])
    posterior = vn < 0
    grow = F32(1) + F32(disc.bulge) * (F32(1) - f * f) / half_d
    un2, vn2 = un * un, vn * vn
    r = np.where(posterior, un2 * un2 + vn2 * vn2, un2 + vn2)
    g2 = grow * grow
    inside = (s_top >= -2.0) & (s_bot >= -2.0) & (r <= np.where(posterior, g2 * g2, g2))
    herniation = None
    if disc.herniation is not None:
        extent, width, size, migration = disc.herniation
        post_mid = 0.5 * (geo["post_up"] + geo["post_lo"])
        w_up, w_lo = geo["post_w_up"], geo["post_w_lo"]
        semi_v = (extent + 3.0) / 2
        centre_v = post_mid - extent + semi_v
        if migration:
            # an extruded fragment: its centre beyond the endplate line, a neck back to the disc
            edge = w_up if migration > 0 else w_lo
            far, near = edge + migration, edge - np.sign(migration) * size / 2
            centre_w, semi_w = (far + near) / 2, abs(far - near) / 2
        else:
            # a protrusion stays within the disc space at the posterior wall
            posterior_height = w_up - w_lo
            semi_w = max(min(size / 2, 0.45 * posterior_height), min(2.6, 0.5 * posterior_height + 1.4))
            centre_w = 0.5 * (w_up + w_lo)
        hu, hv, hw = (
            (u / F32(width / 2)),
            (v - F32(centre_v)) / F32(semi_v),
            (w - F32(centre_w)) / F32(semi_w),
        )
        # the dome behind, a column in front of it back to the disc: the sac is pushed, never split
        hv = np.minimum(hv, F32(0))
        herniation = (hu * hu + hv * hv + hw * hw) <= 1
        # the herniated material stays behind the vertebral bodies
        herniation &= v <= F32(post_mid + 1.0)
    if canvas.tissue is None or not detail:
        canvas.put(block, inside, value, Tissue.ANNULUS)
        if herniation is not None:
            canvas.put(block, herniation, value, Tissue.NUCLEUS_3)
        return
    grade = disc.pfirrmann
    size_v, size_u, size_f = {
        1: (0.72, 0.72, 0.8),
        2: (0.68, 0.7, 0.76),
        3: (0.5, 0.58, 0.62),
        4: (0.42, 0.5, 0.55),
        5: (0.35, 0.4, 0.45),
    }[grade]
    nv = (vn + F32(0.08)) / F32(size_v)
    nu = un / F32(size_u)
    nf = f / F32(size_f)
    n2 = nv * nv + nu * nu + nf * nf
    tissue = np.full(inside.shape, Tissue.ANNULUS, dtype=np.uint8)
    if disc.rudimentary:
        tissue[n2 <= 1] = Tissue.NUCLEUS_4
    elif grade <= 2:
        tissue[n2 <= 1] = _NUCLEUS[grade - 1]
        if grade == 2:  # intranuclear cleft: the horizontal dark band of a maturing disc
            tissue[(n2 <= 1) & (np.abs(f) < 0.09) & (vn > -0.35)] = Tissue.ANNULUS
    else:
        tissue[n2 <= 1.45] = Tissue.CARTILAGE if grade == 3 else Tissue.NUCLEUS_5
        tissue[n2 <= 1] = _NUCLEUS[grade - 1]
        if grade >= 4:
            tissue[(n2 <= 1) & (np.abs(f + F32(0.2) * un) < 0.12)] = Tissue.NUCLEUS_5
        if grade == 5:
            tissue[(n2 <= 0.25) & (np.abs(f) < 0.3)] = Tissue.GAS  # vacuum phenomenon
    canvas.put(block, inside, value, tissue)
    if herniation is not None:
        hernia_tissue = Tissue.NUCLEUS_2 if grade <= 3 else Tissue.NUCLEUS_3
        canvas.put(block, herniation & ~inside, value, hernia_tissue)


def paint_flavum(canvas: Canvas, disc: Disc, up: Vertebra, lo: Vertebra) -> None:
    """Ligamentum flavum behind the dural sac at the disc level; hypertrophy narrows the canal."""
    centre, frame = disc_frame(up, lo)
    back = 0.5 * (_canal_offset(up) + _canal_offset(lo)) - 0.25 * (up.canal_ap + lo.canal_ap)
    epidural = _epidural(up)
    boundary = back - epidural  # posterior edge of the bony canal (front of the laminae)
    semi_v = disc.flavum / 2 + 1.5
    c = centre + frame @ np.array([0.0, boundary + disc.flavum - semi_v, 0.0])
    semi = np.array([0.5 * up.canal_width + 2, semi_v, disc.height / 2 + 5.0])
    block = canvas.grid.block(*_box(c, frame, semi + 1))
    if block is None:
        return
    u, v, w = canvas.grid.local(block, c, frame)
    e = (u / F32(semi[0])) ** 2 + (v / F32(semi[1])) ** 2 + (w / F32(semi[2])) ** 2
    canvas.put(block, e <= 1, 0, Tissue.LIGAMENT)


# --- canal, cord, roots ---------------------------------------------------------------------------------


@dataclass
class CanalNode:
    """A point on the canal's axis with the cross-section there (mm)."""

    point: NDArray[np.float64]
    frame: NDArray[np.float64]
    sac_ap: float
    sac_lr: float
    bony_ap: float
    bony_lr: float
    bony_shift: float
    """Local v offset of the bony canal's centre (epidural fat is mostly posterior)."""
    cord_ap: float
    cord_lr: float


def _sac_ap(v: Vertebra) -> float:
    """Dural sac AP diameter at a vertebra: the sac ends at S2 (half-size there), below only fat."""
    if v.kind != "sacrum" or v.name == "S1":
        return v.canal_ap
    return 0.5 * v.canal_ap if v.name == "S2" else 0.0


def canal_nodes(spine: Spine) -> list[CanalNode]:
    """Canal axis nodes, cranial to caudal: one into the skull base, then every vertebra and disc from
    C1 to S4. The cord tapers to the conus tip in the lower third of ``spine.conus_level``."""
    nodes: list[CanalNode] = []
    sacral = spine.sacrum_segments
    chain = spine.vertebrae[:-1] + sacral[:4]
    for k, v in enumerate(chain):
        epi = _epidural(v)
        cord_ap, cord_lr = _cord_size(v.name)
        sac = _sac_ap(v)
        bony_ap = v.canal_ap + epi + 0.5
        nodes.append(
            CanalNode(
                v.point(0, _canal_offset(v), 0),
                v.frame,
                sac,
                v.canal_width if sac else 0.0,
                bony_ap,
                v.canal_width + 2.0,
                -epi / 2,
                cord_ap,
                cord_lr,
            )
        )
        if k + 1 < len(chain):  # the node at the disc below, halfway in size
            nxt = chain[k + 1]
            centre, frame = disc_frame(v, nxt)
            offset = 0.5 * (_canal_offset(v) + _canal_offset(nxt))
            sac = 0.5 * (sac + _sac_ap(nxt))
            nodes.append(
                CanalNode(
                    centre + frame[:, 1] * offset,
                    frame,
                    sac,
                    v.canal_width if sac else 0.0,
                    0.5 * (bony_ap + nxt.canal_ap + _epidural(nxt) + 0.5),
                    v.canal_width + 2.0,
                    -epi / 2,
                    cord_ap,
                    cord_lr,
                )
            )
    # the cord ends at the conus: arc length of the conus vertebra's node plus a third of its height
    steps = [float(np.linalg.norm(n2.point - n1.point)) for n1, n2 in pairwise(nodes)]
    arc = np.concatenate([[0.0], np.cumsum(steps)])
    level = next(i for i, v in enumerate(chain) if v.name == spine.conus_level)
    tip = arc[2 * level] + 0.3 * chain[level].height
    for node, s in zip(nodes, arc, strict=True):
        taper = float(np.sqrt(np.clip((tip - s) / 18.0, 0.0, 1.0)))
        node.cord_ap *= taper
        node.cord_lr *= taper
    top = nodes[0]
    head = CanalNode(
        top.point + top.frame[:, 2] * 30.0,
        top.frame,
        top.sac_ap + 4,
        top.sac_lr + 4,
        top.bony_ap + 4,
        top.bony_lr + 4,
        0.0,
        top.cord_ap * 1.4,
        top.cord_lr * 1.3,
    )
    return [head, *nodes]


def _cord_size(name: str) -> tuple[float, float]:
    """AP and LR diameters of the cord by level (cervical enlargement, thinner thoracic cord)."""
    if name.startswith("C"):
        return 7.5, 12.0
    if name.startswith("T") and name not in ("T11", "T12", "T13"):
        return 6.5, 8.5
    return 7.5, 9.0  # lumbar enlargement before the conus


@dataclass
class CanalSegment:
    """One straight piece of the canal between two nodes, with its frame and bounds (precomputed)."""

    a: CanalNode
    b: CanalNode
    frame: NDArray[np.float64]
    length: float
    lo: NDArray[np.float64]
    hi: NDArray[np.float64]


def canal_segments(nodes: list[CanalNode]) -> list[CanalSegment]:
    """Frames and bounds of the canal's segments (once per spine, reused by every painting pass)."""
    out = []
    for a, b in pairwise(nodes):
        axis = b.point - a.point
        length = float(np.linalg.norm(axis))
        if length < 1e-3:
            continue
        d = axis / length
        lateral = a.frame[:, 0] - d * (a.frame[:, 0] @ d)
        lateral /= np.linalg.norm(lateral)
        frame = np.column_stack([lateral, np.cross(d, lateral), d])
        if frame[:, 1] @ a.frame[:, 1] < 0:
            frame[:, 1] *= -1
        radius = max(a.bony_ap, a.bony_lr, b.bony_ap, b.bony_lr) / 2 + 3
        out.append(
            CanalSegment(
                a, b, frame, length, np.minimum(a.point, b.point) - radius, np.maximum(a.point, b.point) + radius
            )
        )
    return out


def paint_canal(canvas: Canvas, segments: list[CanalSegment], roots: NDArray, detail: bool) -> None:
    """Bony canal (epidural fat), dural sac (CSF, label CANAL), cord (label CORD), cauda roots.

    Segments overlap at their rounded ends, so each layer is painted for all segments before the next
    (fat, then sac, then cord): a later segment's fat must never cut into an earlier segment's sac."""
    grid = canvas.grid
    layers: list[tuple] = []
    for segment in segments:
        a, b, frame, length = segment.a, segment.b, segment.frame, segment.length
        block = grid.block(segment.lo, segment.hi)
        if block is None:
            continue
        u, v, w = grid.local(block, a.point, frame)
        t = np.clip(w / F32(length), 0, 1)
        along = w - t * F32(length)

        def lerp(x: float, y: float, t: NDArray = t) -> NDArray:
            return F32(x) + t * F32(y - x)

        bony_v = v - lerp(a.bony_shift, b.bony_shift)
        bap, blr = lerp(a.bony_ap, b.bony_ap) * F32(0.5), lerp(a.bony_lr, b.bony_lr) * F32(0.5)
        along2 = along * along
        bony = (bony_v / bap) ** 2 + (u / blr) ** 2 + along2 / (bap * bap) <= 1
        if a.sac_ap <= 0 and b.sac_ap <= 0:
            layers.append((block, bony, None, None, None))
            continue
        sap = np.maximum(lerp(a.sac_ap, b.sac_ap) * F32(0.5), F32(0.01))
        slr = np.maximum(lerp(a.sac_lr, b.sac_lr) * F32(0.5), F32(0.01))
        sac_e = (v / sap) ** 2 + (u / slr) ** 2
        sac = (sac_e + along2 / (sap * sap) <= 1) & (sap > 0.3)
        cap_ = np.maximum(lerp(a.cord_ap, b.cord_ap) * F32(0.5), F32(0.01))
        clr = np.maximum(lerp(a.cord_lr, b.cord_lr) * F32(0.5), F32(0.01))
        cv = v - sap * F32(0.08)
        cord = sac & (cap_ > 0.4) & ((cv / cap_) ** 2 + (u / clr) ** 2 <= 1)
        tissue: int | NDArray = Tissue.CSF
        if detail and canvas.tissue is not None and roots.size:
            tissue = np.full(sac.shape, Tissue.CSF, dtype=np.uint8)
            filum = (cv * cv + u * u <= 0.6) & (cap_ <= 0.4)
            tissue[filum] = Tissue.ROOTS
            root_zone = sac & (cap_ < 2.5)
            if root_zone.any():
                for pv, pu, rad in roots:
                    dv = v - F32(pv) * sap
                    du = u - F32(pu) * slr
                    tissue[root_zone & (dv * dv + du * du <= rad * rad)] = Tissue.ROOTS
        layers.append((block, bony, sac, tissue, cord))
    for block, bony, *_ in layers:
        canvas.put(block, bony, 0, Tissue.EPIDURAL_FAT)
    for block, _, sac, tissue, _ in layers:
        if sac is not None:
            canvas.put(block, sac, CANAL, tissue)
    for block, *_, cord in layers:
        if cord is not None:
            canvas.put(block, cord, CORD, Tissue.CORD)


# --- posterior elements, atlas, sacrum ------------------------------------------------------------------


def paint_posterior(canvas: Canvas, v: Vertebra, disc_gap: float, detail: bool) -> None:
    """Pedicles, laminae, spinous process, articular pillars and (lumbar) transverse processes."""
    grid = canvas.grid
    half_h = v.height / 2
    back = _canal_offset(v) - v.canal_ap / 2 - _epidural(v)
    lamina = 5.0 if v.name[0] != "C" else 3.5
    tip = back - lamina - v.spinous
    half_w = v.canal_width / 2
    reach_u = v.width / 2 + 28 if v.name[0] == "L" else half_w + 16
    lo_v = tip - 3
    centre = v.point(0, 0.5 * (lo_v + v.depth / 2), 0)
    half = np.array([reach_u, 0.5 * (v.depth / 2 - lo_v) + 2, half_h + disc_gap + 16])
    block = grid.block(*_box(centre, v.frame, half))
    if block is None:
        return
    u, vv, w = grid.local(block, v.point(0, 0, 0), v.frame)
    au = np.abs(u)
    slope = F32(0.55 if v.name[0] == "T" else 0.3)
    # spinous process: a plate in the midline sloping caudally with depth
    depth = F32(back) - vv
    sp_centre = F32(-0.15 * v.height) - slope * np.maximum(depth, F32(0))
    sp_half = F32(0.36 * v.height if v.name[0] == "L" else 0.24 * v.height)
    taper = F32(1) - F32(0.35) * np.clip(depth / F32(v.spinous + lamina), 0, 1)
    spinous = (
        (au <= F32(3.2) * taper) & (vv <= F32(back)) & (vv >= F32(tip)) & (np.abs(w - sp_centre) <= sp_half * taper)
    )
    lam = (
        (vv <= F32(back))
        & (vv >= F32(back - lamina))
        & (au <= F32(half_w + 7))
        & (np.abs(w + F32(0.1 * v.height) + F32(0.2) * (vv - F32(back))) <= F32(half_h * 0.8))
    )
    pedicle_u = (au - F32(half_w + 4.0)) / F32(3.8 if v.name[0] == "L" else 3.0)
    pedicle_w = (w - F32(0.2 * v.height)) / F32(0.3 * v.height)
    pedicle = (pedicle_u**2 + pedicle_w**2 <= 1) & (vv <= F32(-v.depth / 2 + 2)) & (vv >= F32(back))
    pillar = (
        (au >= F32(half_w + 1))
        & (au <= F32(half_w + 13))
        & (vv <= F32(back + 6))
        & (vv >= F32(back - lamina - 3))
        & (np.abs(w) <= F32(half_h + disc_gap / 2 - 1.2))
    )
    parts = spinous | lam | pedicle | pillar
    if v.name[0] == "L":
        parts |= (
            (au >= F32(half_w + 8))
            & (au <= F32(v.width / 2 + 26))
            & (vv <= F32(back + 8))
            & (vv >= F32(back - 2))
            & (np.abs(w - F32(0.1 * v.height)) <= F32(5.0))
        )
    if canvas.tissue is None or not detail:
        canvas.put(block, parts, POSTERIOR_LABEL, Tissue.MARROW)
        return
    tissue = np.full(parts.shape, Tissue.CORTEX, dtype=np.uint8)
    core = (
        (spinous & (au <= F32(1.8)) & (np.abs(w - sp_centre) <= sp_half * taper - F32(1.2)))
        | (
            pillar
            & (au >= F32(half_w + 2.3))
            & (au <= F32(half_w + 11.7))
            & (np.abs(w) <= F32(half_h + disc_gap / 2 - 2.5))
            & (vv <= F32(back + 4.8))
            & (vv >= F32(back - lamina - 1.8))
        )
        | (pedicle & (pedicle_u**2 + pedicle_w**2 <= 0.45))
    )
    tissue[core] = Tissue.MARROW
    canvas.put(block, parts, POSTERIOR_LABEL, tissue)


def paint_atlas(canvas: Canvas, atlas: Vertebra, axis: Vertebra, detail: bool) -> None:
    """C1: anterior arch in front of the dens, posterior arch behind the canal, lateral masses; and the
    dens of C2 rising through the ring (labelled C2)."""
    grid = canvas.grid
    half = np.array([32.0, 35.0, 22.0])
    block = grid.block(*_box(atlas.centre, atlas.frame, half))
    if block is None:
        return
    u, v, w = grid.local(block, atlas.centre, atlas.frame)
    dens_v = F32(-axis.depth / 2 + 6.0)
    dens = ((u * u + (v - dens_v) ** 2) <= F32(25)) & (w <= F32(8)) & (w >= F32(-12))
    dens_tip = (u * u + (v - dens_v) ** 2 + (w - F32(8)) ** 2) <= F32(25)
    dens |= dens_tip
    front = ((u / F32(10)) ** 2 + ((v - dens_v - F32(10)) / F32(3.5)) ** 2 + (w / F32(5.5)) ** 2) <= 1
    back_v = F32(-axis.depth / 2 - 1 - atlas.canal_ap - 5)
    back = ((u / F32(12)) ** 2 + ((v - back_v) / F32(4.5)) ** 2 + ((w + F32(1)) / F32(4.5)) ** 2) <= 1
    masses = (np.abs(u) >= F32(13)) & (np.abs(u) <= F32(27)) & (np.abs(v - dens_v) <= F32(9)) & (np.abs(w) <= F32(8))
    ring = front | back | masses
    canvas.put(block, dens, axis.label, Tissue.MARROW)
    canvas.put(block, ring, atlas.label, Tissue.MARROW)
    if detail and canvas.tissue is not None:
        # a cortical rim: shrink each part by ~1 mm via a tighter test and paint the rest dark
        inner_front = ((u / F32(9)) ** 2 + ((v - dens_v - F32(10)) / F32(2.5)) ** 2 + (w / F32(4.5)) ** 2) <= 1
        inner_back = ((u / F32(11)) ** 2 + ((v - back_v) / F32(3.5)) ** 2 + ((w + F32(1)) / F32(3.5)) ** 2) <= 1
        canvas.tissue[block][(front & ~inner_front) | (back & ~inner_back)] = Tissue.CORTEX


def paint_sacrum_extras(canvas: Canvas, spine: Spine, detail: bool) -> None:
    """Alae beside S1-S2 and the dorsal sacral plate behind the sacral canal, labelled as sacrum."""
    grid = canvas.grid
    for seg in spine.sacrum_segments[:4]:
        back = _canal_offset(seg) - seg.canal_ap / 2 - _epidural(seg)
        wide = seg.name in ("S1", "S2")
        reach = seg.width / 2 + (32 if wide else 8)
        centre = seg.point(0, 0.5 * (seg.depth / 2 + back - 8), 0)
        half = np.array([reach, 0.5 * (seg.depth / 2 - back + 8) + 2, seg.height / 2 + 3])
        block = grid.block(*_box(centre, seg.frame, half))
        if block is None:
            continue
        u, v, w = grid.local(block, seg.point(0, 0, 0), seg.frame)
        au = np.abs(u)
        plate = (
            (v <= F32(back))
            & (v >= F32(back - 7))
            & (au <= F32(seg.canal_width / 2 + 10))
            & (np.abs(w) <= F32(seg.height / 2 + 1))
        )
        crest = (au <= F32(3)) & (v <= F32(back - 6)) & (v >= F32(back - 13)) & (np.abs(w) <= F32(seg.height / 2 - 2))
        parts = plate | crest
        if wide:
            ala = (
                (au >= F32(seg.canal_width / 2))
                & (au <= F32(reach))
                & (v <= F32(seg.depth / 2 - 4))
                & (v >= F32(back - 6))
                & (np.abs(w) <= F32(seg.height / 2 + 1))
            )
            parts |= ala
        tissue: int | NDArray = Tissue.MARROW
        if detail and canvas.tissue is not None:
            tissue = np.full(parts.shape, Tissue.MARROW, dtype=np.uint8)
            tissue[((v > F32(back - 1.2)) | (v < F32(back - 5.8))) & plate & ~crest] = Tissue.CORTEX
        canvas.put(block, parts & (canvas.label[block] != CANAL), SACRUM, tissue)


def paint_spine(canvas: Canvas, spine: Spine, roots: NDArray, detail: bool = True) -> None:
    """Paint every structure of the spine onto the canvas (background first, if any, by the caller)."""
    verts = spine.vertebrae
    segments = spine.__dict__.get("_canal_segments")
    if segments is None:
        segments = spine.__dict__["_canal_segments"] = canal_segments(canal_nodes(spine))
    paint_canal(canvas, segments, roots, detail)
    lo, hi = canvas.grid.bounds

    def near(point: NDArray, radius: float) -> bool:
        """Cheap rejection before a painter computes its exact geometry."""
        return bool(np.all(point + radius >= lo) and np.all(point - radius <= hi))

    def disc_near(up: Vertebra, down: Vertebra) -> bool:
        return near(0.5 * (up.centre + down.centre), 0.5 * (up.height + down.height) + max(up.width, up.depth) + 30)

    for disc in spine.discs:
        if disc_near(verts[disc.upper], verts[disc.lower]):
            paint_disc(canvas, disc, verts[disc.upper], verts[disc.lower], detail)
    sacral = spine.sacrum_segments
    for a, b in pairwise(sacral):
        fused = Disc("sacral", SACRUM, 0, 0, 2.0, pfirrmann=4, bulge=0.0, rudimentary=True)
        paint_disc(canvas, fused, a, b, detail, label=SACRUM)
    coccyx = [sacral[-1], *spine.coccyx_segments]
    for a, b in pairwise(coccyx):
        paint_disc(
            canvas,
            Disc("coccygeal", b.label, 0, 0, 2.0, pfirrmann=4, bulge=0.0, rudimentary=True),
            a,
            b,
            detail,
            label=b.label,
        )
    for disc in spine.discs:
        if disc_near(verts[disc.upper], verts[disc.lower]):
            paint_flavum(canvas, disc, verts[disc.upper], verts[disc.lower])
    if spine.ribs:
        for v in verts:
            if v.kind == "body" and carries_rib(v.name) and near(v.centre, v.width / 2 + 110):
                paint_ribs(canvas, v, _canal_offset(v) - v.canal_ap / 2 - _epidural(v), detail)
    labels_of_disc_below = {d.upper: d.label for d in spine.discs}
    labels_of_disc_above = {d.lower: d.label for d in spine.discs}
    for k, v in enumerate(verts):
        if v.kind in ("body", "axis", "sacrum") and near(v.centre, max(v.width, v.depth, v.height) * 0.75 + 5):
            paint_body(canvas, v, labels_of_disc_above.get(k, 0), labels_of_disc_below.get(k, 0), detail)
    for seg in sacral[1:] + spine.coccyx_segments:
        paint_body(canvas, seg, 0, 0, detail)
    paint_sacrum_extras(canvas, spine, detail)
    gaps = {d.upper: d.height for d in spine.discs}
    for k, v in enumerate(verts):
        reach = v.depth / 2 + v.canal_ap + v.spinous + v.width / 2 + 45
        if v.kind in ("body", "axis") and near(v.centre, reach):
            paint_posterior(canvas, v, gaps.get(k, 5.0), detail)
    paint_atlas(canvas, verts[0], verts[1], detail)
