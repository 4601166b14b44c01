"""The spine as a chain of rigid vertebral frames in body coordinates, with sizes by level.

Body coordinates are patient LPS before the patient is placed in the scanner: x to the patient's left,
y posterior, z superior, the spine near x = 0. Each vertebra carries a frame whose columns are its local
axes u (left), v (anterior) and w (superior, the endplate normal). The chain is built from the sacrum
upwards so that spondylolisthesis is an explicit translation along the lower vertebra's endplate: the
posterior-inferior corner of the upper body sits exactly ``slip`` mm anterior to the lower body's
posterior wall line. That makes the slip in the truth exact by construction (posterior-wall method of
:mod:`pipeline.definitions`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from pipeline import definitions
from pipeline.labels import COCCYX, SACRUM, VERTEBRA_LABELS, disc_label

Vec = NDArray[np.float64]

# Typical adult sizes at key levels (mm): body height, AP depth, width; dural-sac AP and width; spinous
# process length. Values between key levels are interpolated along the spine.
_KEY_SIZES: dict[str, tuple[float, float, float, float, float, float]] = {
    "C2": (16.0, 15.0, 18.0, 13.0, 22.0, 22.0),
    "C3": (13.5, 15.5, 20.0, 12.5, 22.0, 18.0),
    "C7": (15.0, 17.0, 26.0, 12.0, 20.0, 32.0),
    "T1": (17.0, 17.5, 28.0, 12.0, 17.0, 34.0),
    "T6": (20.0, 24.0, 30.0, 12.0, 15.0, 38.0),
    "T12": (24.5, 30.0, 40.0, 13.5, 17.0, 32.0),
    "L1": (26.0, 31.0, 42.0, 15.0, 19.0, 30.0),
    "L3": (28.0, 34.0, 47.0, 15.0, 20.0, 30.0),
    "L5": (27.0, 35.0, 50.0, 14.5, 21.0, 24.0),
}
ENDPLATE_CONCAVITY = 1.2
"""Depth (mm) of the central dip of a vertebral endplate; the sacrum's is shallower."""


def concavity(kind: str) -> float:
    return 0.4 if kind == "sacrum" else ENDPLATE_CONCAVITY


_KEY_ORDER = ("C2", "C3", "C7", "T1", "T6", "T12", "L1", "L3", "L5")


def rotation(axis: Vec, angle: float) -> Vec:
    """Rotation matrix about a unit axis (Rodrigues)."""
    axis = np.asarray(axis, dtype=np.float64)
    axis = axis / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * (k @ k)


def _rank(name: str) -> float:
    """Position of a level on a continuous scale (C1 = 1 .. L5 = 24, T13 and L6 in between)."""
    if name == "T13":
        return 19.5
    if name == "L6":
        return 24.5
    return float(VERTEBRA_LABELS[name])


def level_sizes(name: str) -> tuple[float, float, float, float, float, float]:
    """Interpolated (height, depth, width, canal AP, canal width, spinous length) of a level."""
    ranks = [_rank(k) for k in _KEY_ORDER]
    rank = min(max(_rank(name), ranks[0]), ranks[-1])
    table = np.array([_KEY_SIZES[k] for k in _KEY_ORDER])
    return tuple(float(np.interp(rank, ranks, table[:, c])) for c in range(6))  # type: ignore[return-value]


@dataclass
class Endplate:
    """Marrow and endplate findings next to one endplate of a vertebra."""

    modic: int = 0
    modic_depth: float = 0.0
    modic_extent: float = 1.0
    """Fraction of the endplate's AP length involved, from the anterior edge."""
    schmorl: tuple[float, float, float] | None = None
    """(u, v, radius) in mm of an endplate defect (Schmorl node), or None: a hemispherical depression of
    that radius into the body, centred on the endplate surface at (u, v)."""
    schmorl_grade: int = 3
    """Pfirrmann grade of the disc whose nucleus fills the node (a node has the adjacent disc's signal)."""


@dataclass
class Vertebra:
    """One vertebra: a rigid frame plus sizes and findings."""

    name: str
    label: int
    kind: str
    """``"atlas"``, ``"axis"``, ``"body"``, ``"sacrum"`` or ``"coccyx"``."""
    centre: Vec
    frame: Vec
    height: float
    depth: float
    width: float
    canal_ap: float
    canal_width: float
    spinous: float
    wedge_loss: float = 0.0
    """Fractional anterior height loss of a wedge compression fracture (0 = intact)."""
    oedema: bool = False
    superior: Endplate = field(default_factory=Endplate)
    inferior: Endplate = field(default_factory=Endplate)

    def point(self, u: float, v: float, w: float) -> Vec:
        """Body coordinates of a point given in this vertebra's local frame."""
        return self.centre + self.frame @ np.array([u, v, w])

    @property
    def posterior_superior(self) -> Vec:
        return self.point(0.0, -self.depth / 2, self.height / 2)

    @property
    def posterior_inferior(self) -> Vec:
        return self.point(0.0, -self.depth / 2, -self.height / 2)


@dataclass
class Disc:
    """One intervertebral disc between two vertebrae of the chain, with its pathology parameters."""

    level: str
    label: int
    upper: int
    lower: int
    """Indices into :attr:`Spine.vertebrae`."""
    height: float
    pfirrmann: int = 1
    slip: float = 0.0
    bulge: float = 0.5
    herniation: tuple[float, float, float, float] | None = None
    """(posterior extent beyond the wall, LR width, cranio-caudal size, migration) in mm, or None."""
    flavum: float = 2.5
    """Ligamentum flavum thickness at this level (mm); hypertrophy narrows the canal from behind."""
    rudimentary: bool = False
    """A thin, partly fused disc (sacralised L5)."""


@dataclass
class Spine:
    """The whole chain (cranial to caudal) with its discs and global shape parameters."""

    vertebrae: list[Vertebra]
    discs: list[Disc]
    transitional: str
    lordosis_deg: float
    kyphosis_deg: float
    scoliosis_deg: float
    sacral_slope_deg: float
    conus_level: str
    sacrum_segments: list[Vertebra]
    coccyx_segments: list[Vertebra]
    ribs: bool = False
    """Paint ribs and thoracic transverse processes (:mod:`pipeline.phantom.ribs`)."""

    def index(self, name: str) -> int:
        return next(i for i, v in enumerate(self.vertebrae) if v.name == name)


def _names(transitional: str) -> list[str]:
    names = [f"C{i}" for i in range(1, 8)] + [f"T{i}" for i in range(1, 13)]
    if transitional == "T13":
        names.append("T13")
    names += [f"L{i}" for i in range(1, 6)]
    if transitional == "L6":
        names.append("L6")
    return names


def _disc_angle(upper: str, lordosis: float, kyphosis: float, cervical: float) -> float:
    """Sagittal angle (deg, positive = lordotic) of the disc below ``upper``."""
    lumbar_share = {
        "T12": 0.02,
        "T13": 0.03,
        "L1": 0.06,
        "L2": 0.1,
        "L3": 0.16,
        "L4": 0.26,
        "L5": 0.37,
        "L6": 0.3,
    }
    if upper in lumbar_share:
        return lordosis * lumbar_share[upper]
    if upper.startswith("T"):
        return -kyphosis / 11.0
    if upper in ("C2", "C3", "C4", "C5", "C6"):
        return cervical / 5.0
    return 0.0  # C7/T1


def build_spine(rng: np.random.Generator, transitional: str, size: float, pathology: dict) -> Spine:
    """Draw the shape of one spine (curvatures, sizes) and place every vertebra.

    ``size`` scales all dimensions (patient size); ``pathology`` maps disc level to the disc parameters
    already drawn by :mod:`pipeline.phantom.pathology` (height factor, slip, ...).
    """
    names = _names(transitional)
    lordosis = rng.uniform(35.0, 62.0)
    kyphosis = rng.uniform(22.0, 48.0)
    cervical = rng.uniform(5.0, 30.0)
    scoliosis = rng.uniform(4.0, 15.0) * rng.choice([-1.0, 1.0]) if rng.random() < 0.3 else 0.0
    slope = float(np.clip(lordosis * 0.7 + rng.normal(0, 4), 25.0, 55.0))

    base = np.array([[1.0, 0, 0], [0, -1.0, 0], [0, 0, 1.0]]).T  # columns u, v, w
    sacrum_frame = rotation(base[:, 0], np.radians(slope)) @ base
    s_h, s_d, s_w = 30.0 * size, 36.0 * size, 48.0 * size
    sacrum = Vertebra(
        "S1",
        SACRUM,
        "sacrum",
        np.zeros(3),
        sacrum_frame,
        s_h,
        s_d,
        s_w,
        13.0 * size,
        19.0 * size,
        14.0 * size,
    )

    chain: list[Vertebra] = [sacrum]
    discs: list[Disc] = []
    scol_levels = [n for n in names if n.startswith(("T", "L"))]
    previous_tilt = 0.0
    for name in reversed(names[1:]):  # C1 is placed separately on the dens
        lower = chain[-1]
        h, d, w, cap, caw, sp = (x * size for x in level_sizes(name))
        h *= rng.uniform(0.95, 1.05)
        level = f"{name}/{lower.name}"
        params = pathology.get(level, {})
        angle = np.radians(_disc_angle(name, lordosis, kyphosis, cervical) + rng.normal(0, 1.0))
        if lower.wedge_loss:  # a wedge fracture below tilts everything above forward (kyphosis)
            angle -= np.arctan(lower.wedge_loss * lower.height / lower.depth)
        # A balanced C-curve over the thoracolumbar levels: the coronal tilt follows
        # (Cobb / 2) * sin(2 pi pos), zero at both ends, so the column leaves the midline in the middle
        # and comes back over the sacrum; the Cobb angle is the difference of the extreme tilts.
        tilt = 0.0
        if name in scol_levels and scoliosis:
            pos = scol_levels.index(name) / max(len(scol_levels) - 1, 1)
            tilt = np.radians(scoliosis / 2) * np.sin(2 * np.pi * pos)
        coronal, previous_tilt = tilt - previous_tilt, tilt
        frame = rotation(lower.frame[:, 0], -angle) @ lower.frame
        frame = rotation(frame[:, 1], coronal) @ frame
        normal_height = definitions.normal_disc_height_index(level) * (h - 2 * ENDPLATE_CONCAVITY)
        disc_h = normal_height * params.get("height_factor", rng.uniform(0.95, 1.06))
        # disc_h is the height at the centre, endplate concavities included (what the truth measures)
        centre_gap = max(disc_h - ENDPLATE_CONCAVITY - concavity(lower.kind), 0.6)
        half_depth = (d + lower.depth) / 4
        if centre_gap - np.tan(angle) * half_depth < 0.5:  # a collapsed disc loses its wedge
            angle = float(np.arctan((centre_gap - 0.5) / half_depth))
            frame = rotation(lower.frame[:, 0], -angle) @ lower.frame
            frame = rotation(frame[:, 1], coronal) @ frame
        posterior_h = centre_gap - np.tan(angle) * half_depth
        slip = params.get("slip", 0.0)
        corner = lower.posterior_superior + posterior_h * lower.frame[:, 2] + slip * lower.frame[:, 1]
        centre = corner - frame @ np.array([0.0, -d / 2, -h / 2])
        kind = "axis" if name == "C2" else "body"
        vert = Vertebra(name, VERTEBRA_LABELS[name], kind, centre, frame, h, d, w, cap, caw, sp)
        vert.wedge_loss = pathology.get(name, {}).get("wedge_loss", 0.0)
        vert.oedema = pathology.get(name, {}).get("oedema", False)
        chain.append(vert)
        discs.append(Disc(level, disc_label(name), 0, 0, disc_h, slip=slip))
    chain.reverse()
    discs.reverse()
    for k, disc in enumerate(discs):  # chain is now C2..sacrum; disc k lies between k and k+1
        disc.upper, disc.lower = k + 1, k + 2
    atlas = _atlas(chain[0], size)
    vertebrae = [atlas, *chain]
    sacrum_segments, coccyx_segments = _sacrum_and_coccyx(sacrum, size, rng)
    return Spine(
        vertebrae,
        discs,
        transitional,
        lordosis,
        kyphosis,
        scoliosis,
        slope,
        "L1" if rng.random() < 0.6 else rng.choice(["T12", "L2"]),
        sacrum_segments,
        coccyx_segments,
    )


def _atlas(axis: Vertebra, size: float) -> Vertebra:
    """C1 sits around the dens: its centre a dens-height above C2's top endplate."""
    centre = axis.point(0.0, 0.0, axis.height / 2 + 10.0 * size)
    return Vertebra(
        "C1",
        VERTEBRA_LABELS["C1"],
        "atlas",
        centre,
        axis.frame.copy(),
        10.0 * size,
        15.0 * size,
        70.0 * size,
        14.0 * size,
        26.0 * size,
        12.0 * size,
    )


def _sacrum_and_coccyx(
    sacrum: Vertebra, size: float, rng: np.random.Generator
) -> tuple[list[Vertebra], list[Vertebra]]:
    """Fused sacral segments S1..S5 and three coccygeal segments curving forward (sacral kyphosis)."""
    segments = [sacrum]
    heights = np.array([30.0, 24.0, 20.0, 16.0, 13.0]) * size
    depths = np.array([36.0, 30.0, 24.0, 19.0, 15.0]) * size
    widths = np.array([48.0, 40.0, 32.0, 25.0, 20.0]) * size
    bend = np.radians(rng.uniform(9.0, 15.0))
    for k in range(1, 5):
        prev = segments[-1]
        frame = rotation(prev.frame[:, 0], -bend) @ prev.frame
        corner = prev.posterior_inferior - 2.0 * prev.frame[:, 2]
        centre = corner - frame @ np.array([0.0, -depths[k] / 2, heights[k] / 2])
        segments.append(
            Vertebra(
                f"S{k + 1}",
                SACRUM,
                "sacrum",
                centre,
                frame,
                heights[k],
                depths[k],
                widths[k],
                max(13.0 - 3 * k, 3.0) * size,
                16.0 * size,
                6.0 * size,
            )
        )
    coccyx = []
    prev = segments[-1]
    for k in range(3):
        frame = rotation(prev.frame[:, 0], -bend * 1.3) @ prev.frame
        h, d = (9.0 - 1.5 * k) * size, (12.0 - 2.0 * k) * size
        corner = prev.posterior_inferior - 2.0 * prev.frame[:, 2]
        centre = corner - frame @ np.array([0.0, -d / 2, h / 2])
        prev = Vertebra("Co", COCCYX, "coccyx", centre, frame, h, d, (16.0 - 3 * k) * size, 0.0, 0.0, 0.0)
        coccyx.append(prev)
    return segments, coccyx


def disc_frame(upper: Vertebra, lower: Vertebra) -> tuple[Vec, Vec]:
    """Centre and frame of the disc between two vertebrae.

    The centre is the midpoint of the two endplate centres; the frame is the mean of the two vertebral
    frames, re-orthonormalised, so its w axis is the disc axis and v its AP axis.
    """
    cache = upper.__dict__.setdefault("_disc_frames", {})
    if id(lower) in cache and cache[id(lower)][0] is lower:
        return cache[id(lower)][1]
    centre = 0.5 * (upper.point(0, 0, -upper.height / 2) + lower.point(0, 0, lower.height / 2))
    mean = upper.frame + lower.frame
    u, _, vt = np.linalg.svd(mean)
    frame = u @ vt
    cache[id(lower)] = (lower, (centre, frame))
    return centre, frame
