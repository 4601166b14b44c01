"""Tissue classes and their MR signal per contrast.

The anatomy is painted as tissue classes (uint8) and converted to signal by a lookup table, so one
anatomy can be imaged as T2, T1 or STIR, and domain randomisation only swaps the table. Values are
relative signal (0..1, CSF on T2 = 1) typical of 1.5 T turbo spin echo: fat is bright on T1 and on T2
TSE (J-coupling suppression), dark on STIR; marrow follows its fat; free water (CSF, healthy nucleus,
oedema) is bright on T2 and STIR and dark on T1; cortex, ligaments, air and flowing blood are dark.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np
from numpy.typing import NDArray


class Tissue(IntEnum):
    """Tissue class values of the tissue map (uint8)."""

    AIR = 0
    SKIN = 1
    FAT = 2  # subcutaneous and retroperitoneal fat
    MUSCLE = 3
    BOWEL = 4
    BOWEL_FLUID = 5
    GAS = 6
    VESSEL = 7  # flowing blood: flow void
    CORTEX = 8
    MARROW = 9
    ANNULUS = 10
    NUCLEUS_1 = 11
    NUCLEUS_2 = 12
    NUCLEUS_3 = 13
    NUCLEUS_4 = 14
    NUCLEUS_5 = 15
    CSF = 16
    CORD = 17
    ROOTS = 18
    EPIDURAL_FAT = 19
    LIGAMENT = 20
    MODIC_1 = 21
    MODIC_2 = 22
    MODIC_3 = 23
    OEDEMA = 24  # fracture marrow oedema
    VEIN = 25  # slow venous flow (basivertebral, epidural plexus)
    BRAIN = 26
    ORGAN = 27  # liver, kidney, heart muscle, thyroid: intermediate soft tissue
    CARTILAGE = 28  # cartilage endplate and transition zone, between nucleus and annulus


N_TISSUES = len(Tissue)

# Columns: T2 TSE, T1 SE/TSE, STIR.
_SIGNAL: dict[Tissue, tuple[float, float, float]] = {
    Tissue.AIR: (0.0, 0.0, 0.0),
    Tissue.SKIN: (0.45, 0.55, 0.35),
    Tissue.FAT: (0.78, 1.0, 0.05),
    Tissue.MUSCLE: (0.17, 0.33, 0.2),
    Tissue.BOWEL: (0.3, 0.33, 0.35),
    Tissue.BOWEL_FLUID: (0.8, 0.15, 0.8),
    Tissue.GAS: (0.02, 0.02, 0.02),
    Tissue.VESSEL: (0.04, 0.08, 0.05),
    Tissue.CORTEX: (0.03, 0.04, 0.03),
    Tissue.MARROW: (0.5, 0.62, 0.13),
    Tissue.ANNULUS: (0.12, 0.28, 0.15),
    Tissue.NUCLEUS_1: (0.88, 0.32, 0.9),
    Tissue.NUCLEUS_2: (0.74, 0.31, 0.78),
    Tissue.NUCLEUS_3: (0.42, 0.3, 0.45),
    Tissue.NUCLEUS_4: (0.24, 0.28, 0.25),
    Tissue.NUCLEUS_5: (0.1, 0.22, 0.12),
    Tissue.CSF: (1.0, 0.1, 1.0),
    Tissue.CORD: (0.4, 0.42, 0.4),
    Tissue.ROOTS: (0.3, 0.38, 0.3),
    Tissue.EPIDURAL_FAT: (0.78, 0.95, 0.06),
    Tissue.LIGAMENT: (0.04, 0.08, 0.05),
    Tissue.MODIC_1: (0.72, 0.3, 0.8),
    Tissue.MODIC_2: (0.6, 0.88, 0.08),
    Tissue.MODIC_3: (0.1, 0.12, 0.08),
    Tissue.OEDEMA: (0.72, 0.3, 0.85),
    Tissue.VEIN: (0.7, 0.4, 0.7),
    Tissue.BRAIN: (0.42, 0.45, 0.45),
    Tissue.ORGAN: (0.28, 0.4, 0.35),
    Tissue.CARTILAGE: (0.3, 0.3, 0.32),
}
CONTRASTS = ("T2", "T1", "STIR")


def signal_table(
    contrast: str, rng: np.random.Generator, jitter: float = 0.12, free: bool = False
) -> NDArray[np.float32]:
    """Signal per tissue class for one series.

    ``jitter`` scales every tissue by a random factor around 1 (scanner and patient variation, keeping the
    tissue order a radiologist expects); ``free`` draws every tissue uniformly in 0..1 instead (domain
    randomisation: the model must then rely on shape, not on a memorised grey value). Air stays 0 so
    the background keeps pure Rician noise.
    """
    if contrast not in CONTRASTS:
        raise ValueError(f"contrast must be one of {CONTRASTS}, got {contrast!r}")
    column = CONTRASTS.index(contrast)
    table = np.array([_SIGNAL[Tissue(t)][column] for t in range(N_TISSUES)], dtype=np.float32)
    if free:
        table = rng.uniform(0.02, 1.0, N_TISSUES).astype(np.float32)
    else:
        table *= rng.uniform(1.0 - jitter, 1.0 + jitter, N_TISSUES).astype(np.float32)
    table[Tissue.AIR] = 0.0
    return table
