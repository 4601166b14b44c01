"""`dicomnode phantom --out DIR`: write synthetic sagittal spine MR series with their ground truth."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipeline.phantom import REGIONS, generate
from pipeline.phantom.tissues import CONTRASTS


def phantom(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the series into (created).")],
    seed: Annotated[int, typer.Option(help="Seed of the first case; the same seed writes the same bytes.")] = 0,
    region: Annotated[str, typer.Option(help="lumbar, thoracolumbar, cervical or whole.")] = "lumbar",
    contrast: Annotated[str, typer.Option(help="T2, T1 or STIR.")] = "T2",
    count: Annotated[int, typer.Option(help="Number of cases, seeds seed..seed+count-1.")] = 1,
    png: Annotated[bool, typer.Option("--png", help="Also write a mid-sagittal preview with labels.")] = False,
    enhanced: Annotated[
        bool, typer.Option("--enhanced", help="Write one Enhanced MR multi-frame object instead.")
    ] = False,
) -> None:
    """Write synthetic sagittal spine MR series (DICOM), label maps (NIfTI) and truth.json."""
    from dicomnode.phantom_dicom import write_case  # pydicom only when the command runs

    if region not in REGIONS:
        raise typer.BadParameter(f"--region must be one of {', '.join(REGIONS)}")
    if contrast not in CONTRASTS:
        raise typer.BadParameter(f"--contrast must be one of {', '.join(CONTRASTS)}")
    if count < 1:
        raise typer.BadParameter("--count must be at least 1")
    for case_seed in range(seed, seed + count):
        case = generate(case_seed, region=region, contrast=contrast)
        folder = write_case(case, out, png=png, enhanced=enhanced)
        levels = ", ".join(d["level"] for d in case.truth["discs"])
        typer.echo(f"{folder}  {case.volume.shape[0]} slices  discs: {levels}")
