"""Ribs and thoracic transverse processes: what tells a thoracic vertebra from a lumbar one.

Why: without ribs a sixth lumbar vertebra (or a thirteenth thoracic one) in a lumbar view cannot be
seen, because nothing in the image separates T12 from L1 and the names must be counted from the sacrum.
On a real sagittal series the parasagittal slices show the rib heads at the costovertebral joints, the
necks running back to the transverse processes and the start of the shafts; a lumbar vertebra has long
flat transverse processes and no rib. So each thoracic vertebra (T1..T12, and T13 where there is one)
gets a rib on each side, a tube along a polyline in the vertebra's own frame: head against the
posterolateral body (on the disc above for T2..T9, on its own body for T1 and T10 down, as in the
skeleton), neck back to the transverse process, shaft outwards and, past the angle, forwards. The
transverse process of a thoracic vertebra runs from the pedicle to the rib's tubercle.

Labels: :data:`pipeline.labels.RIB` for the rib, the posterior elements' label for the transverse
process. Only drawn when the generator's ``ribs`` option is on (see :func:`pipeline.phantom.generate`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from pipeline.labels import CANAL, CORD, POSTERIOR_ELEMENTS, RIB
from pipeline.phantom.layout import Vertebra
from pipeline.phantom.tissues import Tissue

if TYPE_CHECKING:
    from pipeline.phantom.paint import Canvas

F32 = np.float32
CORTEX_MM = 0.9


def carries_rib(name: str) -> bool:
    """True for the vertebrae that carry a rib: the thoracic ones (T13 included)."""
    return name.startswith("T")


def _rib_scale(v: Vertebra) -> float:
    """Rib thickness follows the body's size (thin upper ribs, thick lower ones)."""
    return float(np.clip(v.width / 36.0, 0.75, 1.15))


def rib_path(v: Vertebra, side: float, back: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Polyline nodes of one rib in the vertebra's local frame (u, v, w) and the tube radius at each node.

    ``side`` is +1 (left) or -1 (right); ``back`` is the local v of the bony canal's back wall, where the
    transverse process starts.
    """
    half_w = v.canal_width / 2
    number = int(v.name[1:]) if v.name[1:].isdigit() else 13
    on_disc = 2 <= number <= 9
    head_w = 0.5 * v.height + 0.5 if on_disc else 0.2 * v.height
    s = _rib_scale(v)
    nodes = np.array(
        [
            [v.width / 2 - 2.0, -v.depth / 2 + 5.0, head_w],  # head, at the costovertebral joint
            [half_w + 20.0, back - 1.0, 0.05 * v.height],  # tubercle, on the transverse process
            [half_w + 38.0, back - 5.0, -0.2 * v.height],  # angle
            [half_w + 62.0, back + 8.0, -0.5 * v.height],  # shaft turning forwards
            [half_w + 80.0, back + 30.0, -0.8 * v.height],
        ]
    )
    nodes[:, 0] *= side
    radius = s * np.array([5.0, 3.8, 4.2, 4.0, 3.8])
    return nodes, radius


def transverse_path(v: Vertebra, side: float, back: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The thoracic transverse process: from the pedicle back and out to the rib's tubercle."""
    half_w = v.canal_width / 2
    nodes = np.array([[half_w + 4.0, back + 3.0, 0.1 * v.height], [half_w + 19.0, back - 3.0, 0.05 * v.height]])
    nodes[:, 0] *= side
    return nodes, _rib_scale(v) * np.array([3.6, 3.2])


def tube_distance(
    u: NDArray[np.float32], vv: NDArray[np.float32], w: NDArray[np.float32], nodes: NDArray, radius: NDArray
) -> NDArray[np.float32]:
    """Signed distance (negative inside) from each point to a tube along ``nodes`` with linearly varying radius."""
    best = np.full(u.shape, np.inf, dtype=F32)
    for (a, ra), (b, rb) in zip(
        zip(nodes[:-1], radius[:-1], strict=True), zip(nodes[1:], radius[1:], strict=True), strict=True
    ):
        d = (b - a).astype(F32)
        length2 = F32(d @ d)
        du, dv, dw = u - F32(a[0]), vv - F32(a[1]), w - F32(a[2])
        t = np.clip((du * d[0] + dv * d[1] + dw * d[2]) / length2, 0, 1)
        eu, ev, ew = du - t * d[0], dv - t * d[1], dw - t * d[2]
        dist = np.sqrt(eu * eu + ev * ev + ew * ew) - (F32(ra) + t * F32(rb - ra))
        np.minimum(best, dist, out=best)
    return best


def paint_ribs(canvas: Canvas, v: Vertebra, back: float, detail: bool) -> None:
    """Both ribs and both transverse processes of one thoracic vertebra onto ``canvas``.

    Painted before the bodies, so a body keeps its own outline where a rib head touches it, and never
    over the dural sac.
    """
    grid = canvas.grid
    for side in (1.0, -1.0):
        for nodes, radius, label in (
            (*rib_path(v, side, back), RIB),
            (*transverse_path(v, side, back), POSTERIOR_ELEMENTS),
        ):
            points = np.array([v.point(*node) for node in nodes])
            pad = float(radius.max()) + 1.0
            block = grid.block(points.min(axis=0) - pad, points.max(axis=0) + pad)
            if block is None:
                continue
            u, vv, w = grid.local(block, v.centre, v.frame)
            dist = tube_distance(u, vv, w, nodes, radius)
            free = (canvas.label[block] != CANAL) & (canvas.label[block] != CORD)
            inside = (dist <= 0) & free
            if not inside.any():
                continue
            if canvas.tissue is None or not detail:
                canvas.put(block, inside, label, Tissue.MARROW)
                continue
            tissue = np.full(inside.shape, Tissue.MARROW, dtype=np.uint8)
            tissue[dist > -F32(CORTEX_MM)] = Tissue.CORTEX
            canvas.put(block, inside, label, tissue)
