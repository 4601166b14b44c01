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
    contrast: Annotated[
        str, typer.Option(help="T2, T1 or STIR; several, comma-separated (T2,T1), write one series each.")
    ] = "T2",
    count: Annotated[int, typer.Option(help="Number of cases, seeds seed..seed+count-1.")] = 1,
    png: Annotated[bool, typer.Option("--png", help="Also write a mid-sagittal preview with labels.")] = False,
    enhanced: Annotated[
        bool, typer.Option("--enhanced", help="Write one Enhanced MR multi-frame object instead.")
    ] = False,
    same_study: Annotated[
        bool,
        typer.Option("--same-study", help="The contrasts of one seed share StudyInstanceUID and FrameOfReferenceUID "
                     "(as a scanner writes T2 and T1 of one exam; the node pairs them for Modic typing). "
                     "Implied when --contrast names several."),
    ] = False,
) -> None:
    """Write synthetic sagittal spine MR series (DICOM), label maps (NIfTI) and truth.json."""
    from dicomnode.phantom_dicom import write_case  # pydicom only when the command runs

    if region not in REGIONS:
        raise typer.BadParameter(f"--region must be one of {', '.join(REGIONS)}")
    contrasts = [c.strip() for c in contrast.split(",") if c.strip()]
    if not contrasts or any(c not in CONTRASTS for c in contrasts) or len(set(contrasts)) != len(contrasts):
        raise typer.BadParameter(f"--contrast must be one or more of {', '.join(CONTRASTS)}, each once")
    if count < 1:
        raise typer.BadParameter("--count must be at least 1")
    shared = same_study or len(contrasts) > 1
    for case_seed in range(seed, seed + count):
        for one in contrasts:
            case = generate(case_seed, region=region, contrast=one)
            folder = write_case(case, out, png=png, enhanced=enhanced, same_study=shared)
            levels = ", ".join(d["level"] for d in case.truth["discs"])
            typer.echo(f"{folder}  {case.volume.shape[0]} slices  discs: {levels}")
