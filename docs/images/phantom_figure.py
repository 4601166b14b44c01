"""Regenerate ``docs/images/phantom_vs_real.png``: phantom previews beside real lumbar T2 scans.

Usage: ``.venv/bin/python docs/images/phantom_figure.py [--real DIR]``. The real cases are read from
``../shared/data/real-lumbar-t2`` (never copied into the repository); only their downscaled
mid-sagittal slices end up in the figure, next to phantom previews of several seeds and contrasts.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from pipeline.phantom import generate  # noqa: E402
from pipeline.phantom.preview import display_slice, mid_slice_index, preview, window  # noqa: E402

TILE = 270
REAL = ("VB2_02", "VB2_05", "VB2_10", "VB2_14")
PHANTOMS = (  # (seed, region, contrast, options, caption)
    (1, "lumbar", "T2", {}, "phantom T2 seed 1"),
    (1, "lumbar", "T1", {}, "same patient, T1"),
    (1, "lumbar", "STIR", {}, "same patient, STIR"),
    (
        6,
        "lumbar",
        "T2",
        {
            "force": {
                "L4/L5": {"pfirrmann": 4, "herniation": "protrusion", "slip": 6.0},
                "L5/S1": {"pfirrmann": 5, "modic_upper": 1, "modic_lower": 1},
            }
        },
        "T2 seed 6: L4/L5 slip+protrusion",
    ),
    (3, "cervical", "T2", {}, "phantom cervical T2"),
)


def _real_tile(folder: Path, case: str) -> np.ndarray:
    """Mid-sagittal slice of a real case (RAS: axis 1 P->A, axis 2 I->S), head up, anterior left."""
    data = np.asarray(nib.load(folder / f"{case}_t2.nii.gz").dataobj).astype(np.float32)
    image = data[data.shape[0] // 2].T[::-1, ::-1]
    return np.repeat(window(image)[..., None], 3, axis=2)


def _phantom_tile(seed: int, region: str, contrast: str, options: dict, labels: bool) -> np.ndarray:
    case = generate(seed, region=region, contrast=contrast, **options)
    if labels:
        return preview(case.volume, case.labels)
    k = mid_slice_index(case.volume, case.labels)
    return np.repeat(window(display_slice(case.volume, case.volume.array, k))[..., None], 3, axis=2)


def _fit(rgb: np.ndarray, caption: str) -> Image.Image:
    image = Image.fromarray(rgb).resize((TILE, TILE), Image.LANCZOS)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, TILE - 16, TILE, TILE), fill=(0, 0, 0))
    draw.text((4, TILE - 14), caption, fill=(255, 255, 0))
    return image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--real", type=Path, default=ROOT.parent / "shared" / "data" / "real-lumbar-t2")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("phantom_vs_real.png"))
    args = parser.parse_args()
    top = [_fit(_real_tile(args.real, case), f"real {case} T2") for case in REAL]
    top.append(_fit(_phantom_tile(1, "lumbar", "T2", {}, labels=True), "phantom T2 seed 1, labels"))
    bottom = [_fit(_phantom_tile(s, r, c, o, labels=False), cap) for s, r, c, o, cap in PHANTOMS]
    figure = Image.new("RGB", (TILE * 5, TILE * 2))
    for row, tiles in enumerate((top, bottom)):
        for col, tile in enumerate(tiles):
            figure.paste(tile, (col * TILE, row * TILE))
    figure.quantize(colors=192, method=Image.Quantize.MEDIANCUT).save(args.out, optimize=True)
    print(f"{args.out} ({args.out.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
