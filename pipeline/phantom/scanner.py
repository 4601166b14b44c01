"""The scanner model: slice planning, sequence parameters, signal, partial volume, k-space, noise.

Planning mimics a technologist: sagittal slices centred on the spine, the field of view sized for the
region, a matrix and slice thickness from the ranges clinics use, sometimes a slightly oblique plane.
Imaging samples the anatomy on the acquisition grid with several sub-slices per slice (partial volume
from slice thickness), converts tissue to signal, applies the k-space steps of a real reconstruction
(apodisation, optional truncation ringing and motion ghosts, zero-filled interpolation to the
reconstruction matrix), multiplies a posterior-coil bias field and adds Rician noise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy import fft

from pipeline.phantom.grid import Grid
from pipeline.phantom.layout import Spine, rotation

F32 = np.float32


@dataclass
class Plan:
    """Geometry and sequence of one series (LPS, the DICOM convention of :class:`pipeline.volume.Volume`)."""

    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    direction: NDArray[np.float64]
    origin: NDArray[np.float64]
    slice_thickness: float
    acquisition_factor: int
    """1, or 2 when the image is acquired at half the matrix and zero-filled (ZIP) to the output."""
    row_direction: str
    """``"anterior"`` or ``"posterior"``: where the first ImageOrientationPatient vector points."""
    oblique_deg: float
    pose_rotation: NDArray[np.float64]
    """Body -> LPS rotation of the patient in the scanner."""
    pose_translation: NDArray[np.float64]
    sequence: dict[str, float | str] = field(default_factory=dict)

    def body_grid(
        self, slice_offset_mm: float = 0.0, factor: int = 1, pixel_shift: tuple[float, float] = (0.0, 0.0)
    ) -> Grid:
        """The sampling grid in body coordinates, optionally shifted along the normal (mm) and in-plane
        (fractions of a sampled pixel), and coarsened by ``factor``."""
        steps_lps = (self.direction * np.asarray(self.spacing)).T  # rows: per-index displacement
        steps_lps = steps_lps * np.array([[1.0], [factor], [factor]])
        origin_lps = self.origin + self.direction[:, 0] * slice_offset_mm
        origin_lps = origin_lps + pixel_shift[0] * steps_lps[1] + pixel_shift[1] * steps_lps[2]
        rot = self.pose_rotation
        origin = rot.T @ (origin_lps - self.pose_translation)
        steps = steps_lps @ rot  # (rot.T @ s.T).T
        shape = (self.shape[0], self.shape[1] // factor, self.shape[2] // factor)
        return Grid(origin, steps, shape)


REGION_SPAN = {
    "lumbar": ("T11", "Co", 250.0, 340.0),
    "thoracolumbar": ("T7", "S1", 360.0, 460.0),
    "cervical": ("C1", "T2", 220.0, 280.0),
    "whole": ("C1", "S1", 600.0, 760.0),
}
SEQUENCES = {
    # TR, TE, TI (ms), echo train length; SE/TSE families as on 1.5 T systems
    "T2": {
        "tr": (2800.0, 4500.0),
        "te": (85.0, 120.0),
        "ti": None,
        "etl": (13, 25),
        "description": ("T2 TSE SAG", "t2_tse_sag", "SAG T2 FSE", "Sag T2 TSE"),
    },
    "T1": {
        "tr": (400.0, 700.0),
        "te": (8.0, 14.0),
        "ti": None,
        "etl": (3, 5),
        "description": ("T1 TSE SAG", "t1_tse_sag", "SAG T1 FSE", "Sag T1 TSE"),
    },
    "STIR": {
        "tr": (3000.0, 5000.0),
        "te": (40.0, 70.0),
        "ti": (140.0, 170.0),
        "etl": (9, 19),
        "description": ("STIR SAG", "t2_tirm_sag", "SAG STIR", "Sag STIR"),
    },
}


def _vertebra_point(spine: Spine, name: str) -> NDArray[np.float64]:
    if name == "Co":
        return spine.coccyx_segments[0].centre
    for v in spine.vertebrae:
        if v.name == name:
            return v.centre
    return spine.sacrum_segments[0].centre


def plan_series(rng: np.random.Generator, spine: Spine, region: str, contrast: str, options: dict) -> Plan:
    """Draw the series geometry and sequence for a region."""
    if region not in REGION_SPAN:
        raise ValueError(f"region must be one of {sorted(REGION_SPAN)}, got {region!r}")
    top, bottom, fov_min, fov_max = REGION_SPAN[region]
    a, b = _vertebra_point(spine, top), _vertebra_point(spine, bottom)
    span = float(np.linalg.norm(a - b))
    fov_si = float(np.clip(span + rng.uniform(40.0, 90.0), fov_min, fov_max))
    centre_body = 0.5 * (a + b) + np.array([0.0, rng.uniform(-30.0, 5.0), rng.uniform(-12.0, 12.0)])
    if region in ("cervical", "whole"):
        centre_body[1] += 10.0
    # the technologist centres the middle slice on the spine's midline
    centre_body[0] = _midline_x(spine, centre_body[2]) + rng.normal(0, 1.5)
    # patient pose: small rotations about the centre of the field of view, a table position
    pose = rotation(np.array([0, 0, 1.0]), np.radians(rng.normal(0, 2.5)))
    pose = rotation(np.array([0, 1.0, 0]), np.radians(rng.normal(0, 1.0))) @ pose
    pose = rotation(np.array([1.0, 0, 0]), np.radians(rng.normal(0, 3.0))) @ pose
    table = np.array([rng.uniform(-15, 15), rng.uniform(-30, 30), rng.uniform(-250, 250)])
    translation = table - pose @ centre_body + centre_body
    centre = pose @ centre_body + translation

    row_direction = options.get("row_direction") or str(rng.choice(["anterior", "posterior"], p=[0.6, 0.4]))
    row = np.array([0.0, -1.0, 0.0]) if row_direction == "anterior" else np.array([0.0, 1.0, 0.0])
    col = np.array([0.0, 0.0, -1.0])
    oblique = float(options.get("oblique_deg", rng.uniform(2.0, 9.0) if rng.random() < 0.4 else 0.0))
    if oblique:
        turn = rotation(np.array([0, 0, 1.0]), np.radians(oblique * rng.choice([-1.0, 1.0])))
        turn = rotation(np.array([0, 1.0, 0]), np.radians(rng.uniform(-0.4, 0.4) * oblique)) @ turn
        row, col = turn @ row, turn @ col
    normal = np.cross(row, col)
    direction = np.column_stack([normal, col, row])

    pixel = options.get("pixel_spacing")
    if pixel is None:
        rows = int(
            options.get("matrix") or rng.choice([256, 320, 384, 448, 512, 640], p=[0.1, 0.25, 0.25, 0.1, 0.25, 0.05])
        )
        if region == "whole" and not options.get("matrix"):
            rows = 640
        pixel = float(np.clip(fov_si / rows, 0.4, 1.2))
    rows = int(np.clip(round(fov_si / pixel / 16) * 16, 256, 640))
    fov_ap = fov_si if region != "whole" else fov_si * rng.uniform(0.45, 0.6)
    if region != "whole" and rng.random() < 0.3:
        fov_ap = fov_si * rng.uniform(0.75, 0.9)
    cols = int(np.clip(round(fov_ap / pixel / 16) * 16, 256, 640))
    thickness = float(options.get("slice_thickness") or rng.choice([3.0, 3.5, 4.0, 4.5, 5.0]))
    spacing = thickness * float(options.get("slice_gap", rng.choice([1.0, 1.1, 1.2, 1.3], p=[0.35, 0.4, 0.2, 0.05])))
    coverage = rng.uniform(36.0, 60.0) if region == "cervical" else rng.uniform(48.0, 90.0)
    n_slices = int(options.get("n_slices") or np.clip(round(coverage / spacing) | 1, 9, 25))
    shape = (n_slices, rows, cols)
    spacing3 = (spacing, pixel, pixel)
    offset = (np.asarray(shape, dtype=np.float64) - 1) / 2 * np.asarray(spacing3)
    origin = centre - direction @ offset
    factor = 2 if rows >= 448 and cols % 2 == 0 and rows % 2 == 0 else 1
    factor = int(options.get("acquisition_factor", factor))
    seq = SEQUENCES[contrast]
    sequence: dict[str, float | str] = {
        "repetition_time": round(float(rng.uniform(*seq["tr"])), 1),
        "echo_time": round(float(rng.uniform(*seq["te"])), 1),
        "echo_train_length": int(rng.integers(seq["etl"][0], seq["etl"][1] + 1)),
        "field_strength": float(rng.choice([1.5, 3.0], p=[0.6, 0.4])),
        # vendors name the same sequence differently; the first spelling is the most common
        "description": str(rng.choice(seq["description"], p=[0.55, 0.15, 0.15, 0.15])),
    }
    if seq["ti"]:
        sequence["inversion_time"] = round(float(rng.uniform(*seq["ti"])), 1)
    return Plan(
        shape,
        spacing3,
        direction,
        origin,
        thickness,
        factor,
        row_direction,
        oblique,
        pose,
        translation,
        sequence,
    )


def _midline_x(spine: Spine, z: float) -> float:
    verts = [v for v in spine.vertebrae if v.kind != "atlas"] + spine.sacrum_segments
    zs = np.array([v.centre[2] for v in verts])
    xs = np.array([v.centre[0] for v in verts])
    order = np.argsort(zs)
    return float(np.interp(z, zs[order], xs[order]))


def subslice_offsets(thickness: float, n: int) -> list[tuple[float, tuple[float, float]]]:
    """Sub-samples that average into one voxel: an offset along the normal (mm; a box slice profile)
    and an in-plane shift (fraction of a pixel) that spreads them over the pixel too, so the average is
    also anti-aliased in-plane at no extra cost. The middle sub-sample sits at the voxel centre."""
    out = []
    for s in range(n):
        rel = (s - (n - 1) / 2) / n
        out.append((rel * thickness, (rel, -rel)))
    return out


def kspace_recon(
    image: NDArray[np.float32], factor: int, rng: np.random.Generator, ringing: bool, motion: bool
) -> NDArray[np.float32]:
    """Per slice: FFT, apodise (the vendor's filter), optionally truncate (Gibbs ringing) and add
    motion ghosts along the phase-encoding (column) direction, zero-fill by ``factor``, inverse FFT."""
    k = fft.fft2(image, axes=(1, 2), workers=1)
    nj, ni = image.shape[1:]
    fy = fft.fftfreq(nj).astype(F32)[:, None]
    fx = fft.fftfreq(ni).astype(F32)[None, :]
    cutoff = 0.5
    window = (np.exp(-((fy / F32(0.36)) ** 2 + (fx / F32(0.36)) ** 2) * F32(1.2))).astype(F32)
    if ringing:
        cutoff = float(rng.uniform(0.28, 0.38))
        window = ((np.abs(fy) < cutoff) & (np.abs(fx) < 0.45)).astype(F32)
    k *= window[None]
    if motion:
        lines = rng.random(nj) < rng.uniform(0.1, 0.3)
        phase = np.exp(1j * rng.normal(0, 1.2, nj) * lines).astype(np.complex64)
        shift = np.exp(-2j * np.pi * fy * rng.normal(0, 1.5, (nj, 1)) * lines[:, None]).astype(np.complex64)
        k *= (phase[:, None] * shift)[None]
    if factor > 1:
        out_j, out_i = nj * factor, ni * factor
        padded = np.zeros((image.shape[0], out_j, out_i), dtype=np.complex64)
        hj, hi = nj // 2, ni // 2
        padded[:, :hj, :hi] = k[:, :hj, :hi]
        padded[:, :hj, -hi:] = k[:, :hj, -hi:]
        padded[:, -hj:, :hi] = k[:, -hj:, :hi]
        padded[:, -hj:, -hi:] = k[:, -hj:, -hi:]
        k = padded * F32(factor * factor)
    out = fft.ifft2(k, axes=(1, 2), workers=1)
    out = np.abs(out).astype(F32) if motion else out.real.astype(F32)
    if factor > 1:
        # the last interpolated row and column would blend in the opposite edge (periodic DFT)
        out[:, -1, :] = out[:, -2, :]
        out[:, :, -1] = out[:, :, -2]
    return out


def bias_field(grid: Grid, spine: Spine, rng: np.random.Generator) -> NDArray[np.float32]:
    """Posterior spine-array coil sensitivity: bright behind, falling off anteriorly, plus a gentle
    random tilt. Evaluated on one slice and shared by all (the coil is long compared to the slab)."""
    _, y, z = grid.points(
        (slice(grid.shape[0] // 2, grid.shape[0] // 2 + 1), slice(0, grid.shape[1]), slice(0, grid.shape[2]))
    )
    back = max(float(v.centre[1]) for v in spine.vertebrae) + 60.0
    depth = np.maximum(F32(back) - y, F32(0))
    falloff = F32(rng.uniform(70.0, 150.0))
    tilt = F32(rng.normal(0, 0.0012)) * (z - z.mean())
    floor = F32(rng.uniform(0.15, 0.35))
    field = (floor + (F32(1) - floor) * np.exp(-depth / falloff)) * (F32(1) + tilt)
    return np.broadcast_to(field, (1, grid.shape[1], grid.shape[2])).astype(F32)


def rician(image: NDArray[np.float32], sigma: float, rng: np.random.Generator) -> NDArray[np.float32]:
    """Magnitude of the signal plus complex Gaussian noise (Gudbjartsson & Patz 1995)."""
    real = image + rng.standard_normal(image.shape, dtype=F32) * F32(sigma)
    imag = rng.standard_normal(image.shape, dtype=F32) * F32(sigma)
    return np.sqrt(real * real + imag * imag)
