"""Soft tissue around the spine: skin, subcutaneous fat, muscle, abdomen, thorax, neck and head.

Evaluated once per slice on the whole grid, so it is kept to a handful of array operations: the trunk
is described by profiles along z (posterior skin, trunk depth, spine front and back) interpolated from
the placed vertebrae, and the abdomen's bowel texture comes from a coarse random field.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from pipeline.phantom.grid import Grid
from pipeline.phantom.layout import Spine
from pipeline.phantom.tissues import Tissue

F32 = np.float32


@dataclass(frozen=True)
class Habitus:
    """Patient build: subcutaneous fat, muscle bulk, belly depth."""

    fat_back: float
    fat_front: float
    muscle_back: float
    trunk_depth: float
    neck_depth: float
    aorta_left: float


def draw_habitus(rng: np.random.Generator, size: float) -> Habitus:
    fat = rng.uniform(0.3, 1.0) ** 1.5
    return Habitus(
        fat_back=3.0 + 20.0 * fat,
        fat_front=8.0 + 35.0 * fat,
        muscle_back=rng.uniform(4.0, 14.0),
        trunk_depth=size * rng.uniform(190.0, 240.0) + 50.0 * fat,
        neck_depth=size * rng.uniform(105.0, 125.0),
        aorta_left=rng.uniform(3.0, 11.0),
    )


def _profiles(spine: Spine) -> dict[str, NDArray]:
    """z-sorted profiles of the spine: z, front of the bodies, canal centre, spinous tips."""
    verts = [v for v in spine.vertebrae if v.kind in ("body", "axis")] + spine.sacrum_segments + spine.coccyx_segments
    z, front, canal, tip = [], [], [], []
    for v in verts:
        z.append(v.centre[2])
        front.append(v.point(0, v.depth / 2, 0)[1])
        canal.append(v.point(0, -v.depth / 2 - v.canal_ap / 2, 0)[1])
        reach = v.spinous + v.canal_ap + 8 if v.kind != "coccyx" else 8
        tip.append(v.point(0, -v.depth / 2 - reach, 0)[1])
    order = np.argsort(z)
    return {k: np.asarray(a)[order] for k, a in (("z", z), ("front", front), ("canal", canal), ("tip", tip))}


def paint_background(grid: Grid, spine: Spine, habitus: Habitus, rng: np.random.Generator) -> NDArray[np.uint8]:
    """Tissue classes of everything that is not spine, on the whole grid (uint8)."""
    x, y, z = grid.points(grid.full())
    shape = np.broadcast_shapes(x.shape, y.shape, z.shape)
    prof = _profiles(spine)
    names = {v.name: v for v in spine.vertebrae}
    z_c1 = names["C1"].centre[2]
    z_t1 = names["T1"].centre[2]
    z_t12 = names["T12"].centre[2]
    z_sacrum = spine.sacrum_segments[0].centre[2]
    zz = np.broadcast_to(z, shape)
    zf = zz.ravel()
    front = np.interp(zf, prof["z"], prof["front"]).astype(F32).reshape(shape)
    tip = np.interp(zf, prof["z"], prof["tip"]).astype(F32).reshape(shape)
    # trunk depth: neck narrow, chest and abdomen deep, a smooth transition below C7
    neck = np.clip((zz - F32(z_t1 + 10)) / F32(40), 0, 1)
    depth = F32(habitus.trunk_depth) * (1 - neck) + F32(habitus.neck_depth) * neck
    fat_back = F32(habitus.fat_back) * (1 - neck) + F32(4) * neck
    fat_front = F32(habitus.fat_front) * (1 - neck) + F32(4) * neck
    curve = (x * x) * F32(1 / 500.0)
    skin_back = tip + F32(habitus.muscle_back) + fat_back - curve
    skin_front = skin_back - depth + curve * F32(1.5)
    below = skin_back - y
    above = y - skin_front
    inner = np.minimum(below, above)
    tissue = np.full(shape, Tissue.MUSCLE, dtype=np.uint8)
    fat_depth = np.where(below < above, fat_back, fat_front)
    # diaphragm: a dome, higher in front; lungs and mediastinum above, abdomen below
    diaphragm = F32(z_t12 + 25) + F32(0.35) * np.maximum(front - y, F32(0))
    # abdomen/pelvis anterior to the spine: bowel loops in mesenteric fat, retroperitoneal fat, vessels
    abdomen = (y < front - F32(3)) & (zz < diaphragm) & (inner > fat_depth + F32(8))
    loops = _coarse_noise(grid, rng, 9.0)
    content = _coarse_noise(grid, rng, 16.0)
    bowel = abdomen & (y < front - F32(15) + F32(8) * np.clip(content, -1, 1))
    tissue[abdomen] = Tissue.FAT
    lumen = bowel & (content > -1.5)
    tissue[lumen] = Tissue.BOWEL
    tissue[lumen & (loops > 0.2) & (content > 0.5)] = Tissue.BOWEL_FLUID
    tissue[lumen & (loops < -0.9) & (content < 0.1)] = Tissue.GAS
    tissue[lumen & (np.abs(loops) < 0.17)] = Tissue.ORGAN  # loop walls
    # liver and stomach under the dome, in front of the upper lumbar spine
    liver = diaphragm - F32(95) + F32(25) * loops * F32(0.3) - F32(0.4) * np.maximum(front - y, F32(0))
    tissue[abdomen & (zz > liver) & (y < front - F32(20))] = Tissue.ORGAN
    # fat streaks between the muscle bundles behind the spine, running cranio-caudally
    streaks = _coarse_noise(grid, rng, 4.0, (1.0, 4.0, 1.0))
    tissue[(tissue == Tissue.MUSCLE) & (y > front) & (np.abs(streaks) < 0.09)] = Tissue.FAT
    # psoas beside the lumbar bodies
    tissue[
        (y < front + F32(5)) & (y > front - F32(35)) & (np.abs(x) > F32(22)) & (zz < F32(z_t12)) & (zz > F32(z_sacrum))
    ] = Tissue.MUSCLE
    # aorta and IVC in front of the lumbar and thoracic spine, down to about L4
    z_l4 = names["L4"].centre[2]
    vessel_y = front - F32(13)
    aorta = ((x - F32(habitus.aorta_left)) ** 2 + (y - vessel_y) ** 2 <= F32(100)) & (zz > F32(z_l4)) & (zz < F32(z_t1))
    ivc = ((x + F32(18)) ** 2 + (y - vessel_y + F32(4)) ** 2 <= F32(110)) & (zz > F32(z_l4)) & (zz < F32(z_t12 + 40))
    tissue[aorta | ivc] = Tissue.VESSEL
    # thorax: lungs, with the mediastinum (oesophagus, aorta) in front of the spine and the heart
    thorax = (y < front - F32(3)) & (zz >= diaphragm) & (zz < F32(z_t1 + 10)) & (inner > F32(20))
    tissue[thorax] = Tissue.GAS
    tissue[thorax & (np.abs(x) < F32(16)) & (y > front - F32(30))] = Tissue.ORGAN
    z_t8 = names["T8"].centre[2]
    heart_y = float(np.interp(z_t8, prof["z"], prof["front"])) - 75.0
    hx, hy, hz = x / F32(58), (y - F32(heart_y)) / F32(50), (zz - F32(z_t8 + 5)) / F32(62)
    heart_r = hx * hx + hy * hy + hz * hz
    heart = thorax & (heart_r <= 1)
    tissue[heart] = Tissue.ORGAN
    tissue[heart & (heart_r <= 0.45)] = Tissue.VESSEL  # black-blood chambers
    tissue[thorax & aorta] = Tissue.VESSEL
    # neck: prevertebral soft tissue, then the airway
    neck_zone = (zz >= F32(z_t1 - 30)) & (zz < F32(z_c1 + 5))
    airway = neck_zone & ((x * x) + (y - front + F32(16)) ** 2 <= F32(64))
    tissue[neck_zone & (y < front - F32(30)) & (inner > F32(10))] = Tissue.ORGAN
    tissue[airway] = Tissue.GAS
    # skin and subcutaneous fat over everything
    tissue[inner < fat_depth + F32(2)] = Tissue.FAT
    tissue[inner < F32(2)] = Tissue.SKIN
    tissue[inner < 0] = Tissue.AIR
    if float(zz.max()) > z_c1 - 90:  # head and face only when the field of view reaches them
        _paint_head_and_face(
            tissue,
            x,
            y,
            zz,
            z_c1,
            float(np.interp(z_c1, prof["z"], prof["canal"])),
            float(np.interp(names["C2"].centre[2], prof["z"], prof["front"])),
            names["C2"].centre[2],
            loops,
        )
    return tissue


def _paint_head_and_face(
    tissue: NDArray[np.uint8],
    x: NDArray,
    y: NDArray,
    zz: NDArray,
    z_c1: float,
    canal_c1: float,
    front_c2: float,
    z_c2: float,
    texture: NDArray,
) -> None:
    """Face and jaw in front of the upper cervical spine (tongue muscle, a mandible, the pharynx), then
    the head: scalp, skull (cortex-diploe-cortex), CSF and brain with sulci. The foramen magnum sits just
    above C1, where the canal (painted later) passes through the skull base."""
    fc = (0.0, front_c2 - 32.0, z_c2 - 8.0)
    fx, fy, fz = (x - F32(fc[0])) / F32(55), (y - F32(fc[1])) / F32(46), (zz - F32(fc[2])) / F32(48)
    face_r = np.sqrt(fx * fx + fy * fy + fz * fz)
    face = face_r <= 1.0
    # the face joins the neck: its skin and fat only where there was air, its muscle over the neck's skin
    outside = tissue == Tissue.AIR
    superficial = outside | (tissue == Tissue.SKIN) | (tissue == Tissue.FAT)
    tissue[face & outside] = Tissue.SKIN
    tissue[face & outside & (face_r <= 0.96)] = Tissue.FAT
    tissue[face & superficial & (face_r <= 0.86)] = Tissue.MUSCLE
    jaw = face & (face_r > 0.74) & (face_r <= 0.86) & (fy < -0.2) & (fz < 0.3)
    tissue[jaw] = Tissue.CORTEX
    tissue[jaw & (face_r > 0.77) & (face_r <= 0.83)] = Tissue.MARROW
    pharynx = face & ((x * x) + (y - F32(front_c2 - 14)) ** 2 <= F32(49)) & (zz < F32(z_c1 + 8))
    tissue[pharynx] = Tissue.GAS
    head_c = np.array([0.0, canal_c1 - 5.0, z_c1 + 78.0])
    hx, hy, hz = (
        (x - F32(head_c[0])) / F32(72),
        (y - F32(head_c[1])) / F32(95),
        (zz - F32(head_c[2])) / F32(82),
    )
    head_r = np.sqrt(hx * hx + hy * hy + hz * hz)
    # behind the head there is air; in front of it the face
    tissue[(zz > F32(z_c1 + 12)) & (head_r > 1.0) & ~face & (y > F32(head_c[1] - 20))] = Tissue.AIR
    head = head_r <= 1.0
    for radius, layer in (
        (1.0, Tissue.SKIN),
        (0.975, Tissue.FAT),
        (0.95, Tissue.CORTEX),
        (0.935, Tissue.MARROW),
        (0.915, Tissue.CORTEX),
        (0.9, Tissue.CSF),
        (0.885, Tissue.BRAIN),
    ):
        tissue[head & (head_r <= radius)] = layer
    tissue[head & (head_r <= 0.87) & (np.abs(texture) < 0.05)] = Tissue.CSF  # sulci


def _coarse_noise(
    grid: Grid, rng: np.random.Generator, scale_mm: float, stretch: tuple[float, float, float] = (1, 1, 1)
) -> NDArray[np.float32]:
    """Smooth unit-variance noise on the grid, made on a coarse lattice and interpolated (cheap).

    ``stretch`` lengthens the correlation along grid axes (muscle fibres run cranio-caudally)."""
    # the coarse lattice is laid along the grid axes
    coarse_shape = [
        max(int(np.linalg.norm(grid.steps[a]) * grid.shape[a] / (scale_mm * stretch[a])) + 3, 2) for a in range(3)
    ]
    coarse = ndimage.gaussian_filter(rng.standard_normal(coarse_shape), 0.7).astype(F32)
    coarse /= coarse.std() + 1e-6
    coords = [np.linspace(0, coarse_shape[a] - 1.001, grid.shape[a], dtype=F32) for a in range(3)]
    return _trilinear(coarse, coords)


def _trilinear(coarse: NDArray[np.float32], coords: list[NDArray[np.float32]]) -> NDArray[np.float32]:
    """Separable linear interpolation of a small array onto a product grid of coordinates."""
    out = coarse
    for axis, c in enumerate(coords):
        i0 = np.floor(c).astype(int)
        frac = (c - i0).astype(F32)
        frac = frac * frac * (F32(3) - F32(2) * frac)  # smoothstep: thresholds give curves, not polygons
        a = np.take(out, i0, axis=axis)
        b = np.take(out, i0 + 1, axis=axis)
        shape = [1, 1, 1]
        shape[axis] = len(c)
        frac = frac.reshape(shape)
        out = a + (b - a) * frac
    return out
