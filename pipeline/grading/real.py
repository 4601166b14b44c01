"""Disc heights on the real T2 cases, which carry vertebral-body labels only.

With no disc label, a disc's height is the gap between its two vertebral bodies: the same body frames as
the phantom grading (minimum-area rectangles refined to sub-pixel edges), on the sagittal slice nearest
the two bodies' common centroid; anterior and posterior heights between the endplate corners, middle
height the run of non-body along the disc axis through the midpoint of the two endplate centres. The
figures are set against a published MRI series of healthy adults (see :data:`NORMAL_MRI`).
"""

from __future__ import annotations

import json
import sys
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.grading.geometry import body_frame
from pipeline.grading.plane import inplane_directions, largest_component, run_through, unit
from pipeline.labels import VERTEBRA_NAMES
from pipeline.volume import Volume

NORMAL_MRI: dict[str, dict[str, tuple[float, float]]] = {
    "L1/L2": {"anterior": (10.82, 1.59), "middle": (10.00, 1.89), "posterior": (7.31, 1.71)},
    "L2/L3": {"anterior": (13.09, 1.21), "middle": (11.59, 1.51), "posterior": (8.58, 1.66)},
    "L3/L4": {"anterior": (15.21, 1.24), "middle": (12.45, 1.79), "posterior": (9.08, 1.22)},
    "L4/L5": {"anterior": (18.14, 1.49), "middle": (13.82, 1.96), "posterior": (10.14, 1.01)},
    "L5/S1": {"anterior": (18.71, 1.61), "middle": (12.99, 2.53), "posterior": (8.51, 1.08)},
}
"""Mean (SD) disc heights in mm on mid-sagittal MRI of 14 healthy adults aged 40-59 without disc disease:
"Measuring Dimensions of Lumbar Intervertebral Discs in Normal Subjects", Anatomical Sciences Journal
(Iran), http://anatomyjournal.ir, article A-10-159-1. The normal range shown is mean +- 2 SD."""


def load_case(root: Path, case: str) -> tuple[Volume, np.ndarray]:
    """A real case as a :class:`Volume` in the DICOM convention: the NIfTI's RAS axes (axis 0 sagittal,
    axis 1 posterior->anterior, axis 2 inferior->superior) become LPS directions (R = -L, A = -P, S)."""
    import nibabel as nib

    image = nib.load(str(root / f"{case}_t2.nii.gz"))
    labels = nib.load(str(root / f"{case}_vertebrae.nii.gz"))
    spacing = tuple(float(s) for s in image.header.get_zooms()[:3])
    direction = np.array([[-1.0, 0, 0], [0, -1.0, 0], [0, 0, 1.0]])
    volume = Volume(
        np.asarray(image.dataobj, dtype=np.float32), spacing, direction, np.zeros(3), "T2", {"source": f"real:{case}"}
    )
    return volume, np.asarray(labels.dataobj).astype(np.uint8)


def disc_gap_heights(volume: Volume, labels: np.ndarray, upper: int, lower: int) -> dict[str, float] | None:
    """Anterior, middle and posterior height of the gap between two vertebral bodies (mm)."""
    anterior, _ = inplane_directions(volume)
    spacing2 = (volume.spacing[1], volume.spacing[2])
    both = (labels == upper) | (labels == lower)
    counts = np.count_nonzero(both, axis=(1, 2))
    if counts.sum() == 0:
        return None
    k = round(float((np.arange(counts.size) * counts).sum() / counts.sum()))
    up_mask, lo_mask = labels[k] == upper, labels[k] == lower
    if up_mask.sum() < 20 or lo_mask.sum() < 20:
        return None
    up_points = np.argwhere(largest_component(up_mask)) * np.asarray(spacing2)
    lo_points = np.argwhere(largest_component(lo_mask)) * np.asarray(spacing2)
    hint = unit(up_points.mean(axis=0) - lo_points.mean(axis=0))
    up = body_frame(up_mask, spacing2, anterior, hint)
    lo = body_frame(lo_mask, spacing2, anterior, hint)
    if up is None or lo is None or up.truncated or lo.truncated:
        return None
    w = unit(up.w + lo.w)
    centre = 0.5 * (up.inferior_centre + lo.superior_centre)
    gap = ~(largest_component(up_mask) | largest_component(lo_mask))
    middle, _, _ = run_through(gap, centre, w, spacing2, reach=25.0)
    return {
        "anterior": float((up.anterior_inferior - lo.anterior_superior) @ w),
        "middle": middle,
        "posterior": float((up.posterior_inferior - lo.posterior_superior) @ w),
        "upper_body_middle": run_through(largest_component(up_mask), up.centre, up.w, spacing2, reach=60.0)[0],
    }


def run_real(root: Path, out: Any = sys.stdout) -> dict[str, dict[str, list[float]]]:
    """Measure every case's disc gaps and print them per level against :data:`NORMAL_MRI`."""
    manifest = json.loads((root / "manifest.json").read_text())
    by_level: dict[str, dict[str, list[float]]] = {}
    for entry in manifest:
        volume, labels = load_case(root, entry["case"])
        present = sorted(int(v) for v in np.unique(labels) if v in VERTEBRA_NAMES)
        for upper, lower in pairwise(present):
            if lower != upper + 1:
                continue
            heights = disc_gap_heights(volume, labels, upper, lower)
            if heights is None:
                continue
            level = f"{VERTEBRA_NAMES[upper]}/{VERTEBRA_NAMES[lower]}"
            slot = by_level.setdefault(level, {k: [] for k in ("anterior", "middle", "posterior", "dhi")})
            for key in ("anterior", "middle", "posterior"):
                slot[key].append(heights[key])
            if heights["upper_body_middle"] > 0:
                slot["dhi"].append(heights["middle"] / heights["upper_body_middle"])
    print(
        f"Disc heights (gap between vertebral bodies, mm) on {len(manifest)} real T2 cases, mean +- SD "
        "[min..max]; normal: healthy-adult MRI mean +- 2 SD (Anatomical Sciences Journal, see docs)",
        file=out,
    )
    print(f"{'level':<8} {'n':>3} {'anterior':>22} {'middle':>22} {'posterior':>22} {'DHI':>12}", file=out)
    for level in sorted(by_level, key=lambda lv: list(VERTEBRA_NAMES.values()).index(lv.split("/")[0])):
        slot = by_level[level]
        cells = []
        for key in ("anterior", "middle", "posterior"):
            xs = np.asarray(slot[key])
            cells.append(f"{xs.mean():5.1f}+-{xs.std():3.1f} [{xs.min():4.1f}..{xs.max():4.1f}]")
        dhi = np.asarray(slot["dhi"])
        print(
            f"{level:<8} {len(slot['middle']):>3} {cells[0]:>22} {cells[1]:>22} {cells[2]:>22} "
            f"{dhi.mean():5.2f}+-{dhi.std():4.2f}",
            file=out,
        )
        normal = NORMAL_MRI.get(level)
        if normal:
            ref = [
                f"{m - 2 * s:5.1f}..{m + 2 * s:4.1f} ({m:4.1f})"
                for m, s in (normal[k] for k in ("anterior", "middle", "posterior"))
            ]
            inside = [
                100.0
                * np.mean(
                    (np.asarray(slot[k]) >= normal[k][0] - 2 * normal[k][1])
                    & (np.asarray(slot[k]) <= normal[k][0] + 2 * normal[k][1])
                )
                for k in ("anterior", "middle", "posterior")
            ]
            print(f"{'  normal':<12} {ref[0]:>22} {ref[1]:>22} {ref[2]:>22}", file=out)
            print(f"{'  in range':<12} {inside[0]:>21.0f}% {inside[1]:>21.0f}% {inside[2]:>21.0f}%", file=out)
    return by_level
