"""Hand-built sagittal label maps with known geometry, in any orientation convention.

The anatomy is drawn in an "anatomy frame" (``a`` anterior, ``s`` superior, ``x`` left, mm), optionally
tilted in the sagittal plane, then sampled on a DICOM-convention grid whose axes can point either way:
slices left->right or right->left, rows running anterior or posterior, columns down or up. Every
measurement must come out the same in all of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from pipeline.labels import CANAL, VERTEBRA_LABELS, disc_label
from pipeline.result import LevelFindings, QualityControl, SpineAnalysis, VertebraFindings
from pipeline.volume import Volume

L = np.array([1.0, 0.0, 0.0])
A = np.array([0.0, -1.0, 0.0])
S = np.array([0.0, 0.0, 1.0])


@dataclass
class Spec:
    """One level between two rectangular bodies (sizes in mm)."""

    upper: str = "L4"
    lower: str = "L5"
    depth: float = 35.0
    body_height: float = 26.0
    width: float = 44.0
    disc_height: float = 10.0
    slip: float = 0.0
    canal_ap: float = 14.0
    canal_width: float = 20.0
    herniation: float = 0.0
    """Depth (mm) of a posterior bump of disc material beyond the wall line, at mid-disc height."""
    notch_upper: float = 0.0
    """Depth (mm) of a disc-filled notch (a Schmorl node) in the upper body's inferior endplate."""
    notch_lower: float = 0.0
    """... in the lower body's superior endplate."""
    notch_width: float = 8.0
    """AP and lateral width (mm) of the notches: half-ellipsoids centred at mid-depth, mid-width."""
    tilt_deg: float = 0.0
    """Rotation of the anatomy in the sagittal plane (lordosis)."""
    shift_s: float = 0.0
    """Cranio-caudal shift (mm) of the anatomy in the field of view (positive: the level moves up)."""


def build(
    spec: Spec,
    *,
    slices_left_to_right: bool = True,
    rows_anterior: bool = True,
    columns_down: bool = True,
    spacing: tuple[float, float, float] = (4.0, 0.7, 0.7),
    shape: tuple[int, int, int] = (13, 160, 160),
    contrast: str | None = "T2",
) -> tuple[Volume, NDArray[np.uint8]]:
    """A volume (a crude T2-like image) and its label map."""
    # DICOM: direction[:,1] is the column direction (down a column), direction[:,2] the row direction.
    normal = L if slices_left_to_right else -L
    row_dir = A if rows_anterior else -A
    col_dir = -S if columns_down else S
    direction = np.column_stack([normal, col_dir, row_dir])
    if np.linalg.det(direction) < 0:  # keep a right-handed grid by flipping the slice order's sign only
        pass
    centre_index = (np.asarray(shape) - 1) / 2
    origin = -(direction * np.asarray(spacing)) @ centre_index
    volume_geom = Volume(np.zeros(shape, dtype=np.float32), spacing, direction, origin)
    kk, jj, ii = np.meshgrid(*(np.arange(n) for n in shape), indexing="ij")
    lps = volume_geom.index_to_lps(np.stack([kk, jj, ii], axis=-1).astype(np.float64))
    x = lps @ L
    a0 = lps @ A
    s0 = lps @ S - spec.shift_s
    t = np.radians(spec.tilt_deg)
    a = np.cos(t) * a0 + np.sin(t) * s0
    s = -np.sin(t) * a0 + np.cos(t) * s0
    labels = np.zeros(shape, dtype=np.uint8)
    image = np.full(shape, 150.0, dtype=np.float32)
    half_d, h, hd = spec.depth / 2, spec.body_height, spec.disc_height
    inside_x = np.abs(x) <= spec.width / 2
    # lower body: top endplate at s = -hd/2; upper body: bottom at +hd/2, shifted anteriorly by the slip
    lower = inside_x & (np.abs(a) <= half_d) & (s <= -hd / 2) & (s >= -hd / 2 - h)
    upper = inside_x & (np.abs(a - spec.slip) <= half_d) & (s >= hd / 2) & (s <= hd / 2 + h)
    # disc between, its posterior margin on the line joining the two posterior corners
    frac = np.clip((s + hd / 2) / hd, 0, 1)
    post = -half_d + frac * spec.slip
    ant = half_d + frac * spec.slip
    disc = inside_x & (np.abs(s) < hd / 2) & (a >= post) & (a <= ant)
    if spec.herniation > 0:
        bump = inside_x & (np.abs(s) < hd / 2 * 0.8) & (a < post) & (a >= post - spec.herniation) & (np.abs(x) < 8)
        disc |= bump
    canal_front = -half_d - 1.0
    canal_centre = canal_front - spec.canal_ap / 2
    canal = ((a - canal_centre) / (spec.canal_ap / 2)) ** 2 + (x / (spec.canal_width / 2)) ** 2 <= 1
    canal &= np.abs(s) < hd / 2 + 2 * h
    labels[canal] = CANAL
    labels[disc] = disc_label(spec.upper)
    labels[lower] = VERTEBRA_LABELS[spec.lower] if spec.lower != "S1" else 26
    labels[upper] = VERTEBRA_LABELS[spec.upper]
    half_w = spec.notch_width / 2
    notches = np.zeros(shape, dtype=bool)
    plates = ((spec.notch_upper, upper, hd / 2, spec.slip), (spec.notch_lower, lower, -hd / 2, 0.0))
    for depth, body, plate, centre in plates:
        if depth > 0:
            lateral = ((a - centre) / half_w) ** 2 + (x / half_w) ** 2
            notches |= body & (lateral + ((s - plate) / depth) ** 2 <= 1)
    labels[notches] = disc_label(spec.upper)
    image[canal] = 1000.0
    image[disc] = 250.0
    nucleus = disc & (np.abs(a - 0.5 * spec.slip) < 0.3 * spec.depth) & (np.abs(s) < 0.3 * hd)
    image[nucleus] = 800.0
    image[lower | upper] = 450.0
    image[notches] = 250.0
    volume = Volume(image, spacing, direction, origin, contrast)
    return volume, labels


def analysis(labels: NDArray[np.uint8], spec: Spec) -> SpineAnalysis:
    """A bare analysis with the one level of ``spec`` and its two vertebrae."""
    level = LevelFindings(f"{spec.upper}/{spec.lower}", disc_label(spec.upper), spec.upper, spec.lower)
    vertebrae = [VertebraFindings(spec.upper, VERTEBRA_LABELS[spec.upper])]
    return SpineAnalysis(labels, [], [level], vertebrae, QualityControl(True), "test", "0")
