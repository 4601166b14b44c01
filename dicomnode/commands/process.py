"""`dicomnode process SERIES_DIR --out OUT_DIR`: the service's analysis and builders, offline.

Why it exists: a site can try the node on a folder of files before wiring it to a PACS, and a
developer can reproduce a job exactly -- the same loader, the same ``pipeline.spine.analyse_spine``
and the same :func:`dicomnode.results.build.build_outputs` the worker calls, so the objects are identical to what
the service would send for that series (same job key, same UIDs).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from dicomnode.commands.common import console, fail
from dicomnode.results.build import build_outputs, output_kind
from dicomnode.results.settings import ResultSettings
from dicomnode.series_loader import LoadedSeries, SeriesLoadError, load_series
from pipeline.result import SpineAnalysis


def offline_job_key(loaded: LoadedSeries, analysis: SpineAnalysis) -> str:
    """Series UID + digest of the instance set + algorithm version, as the service's job key is built.

    Same files and same model give the same key, hence the same output UIDs, run after run.
    """
    instances = sorted(str(ds.SOPInstanceUID) for ds in loaded.datasets)
    digest = hashlib.sha256("\n".join(instances).encode()).hexdigest()[:16]
    series = str(loaded.reference.get("SeriesInstanceUID", "unknown-series"))
    return f"{series}|{digest}|{analysis.algorithm_name}-{analysis.algorithm_version}"


def _default_analyse() -> Callable[[Any], SpineAnalysis]:
    """The pipeline's entry point (segment, name, grade), imported late: it pulls in torch and the weights."""
    from pipeline.spine import analyse_spine

    return analyse_spine


def process(
    series_dir: Annotated[Path, typer.Argument(help="Folder (searched recursively) or file of one MR series.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the SEG, SR, pictures and findings.json.")],
    uid_root: Annotated[str, typer.Option(help="UID root for the outputs (your organisation's, or 2.25).")] = "2.25",
    job_key: Annotated[str | None, typer.Option(help="Override the job key the output UIDs derive from.")] = None,
    gsps: Annotated[bool, typer.Option(help="Also write a presentation state with the level names.")] = False,
    keep_empty_frames: Annotated[bool, typer.Option(help="Write SEG frames without any segment too.")] = False,
) -> None:
    """Analyse one sagittal spine MR series offline and write the result objects to OUT."""
    try:
        settings = ResultSettings(uid_root=uid_root, gsps=gsps, keep_empty_frames=keep_empty_frames)
    except ValueError as exc:
        raise fail(str(exc), 2) from None
    out.mkdir(parents=True, exist_ok=True)
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("loading series", total=4)
        try:
            loaded = load_series(series_dir)
        except SeriesLoadError as exc:
            raise fail(f"{series_dir}: {exc}", 2) from None
        progress.update(task, advance=1, description=f"analysing {loaded.volume.shape[0]} slices")
        try:
            analysis = _default_analyse()(loaded.volume)
        except Exception as exc:  # model missing, out of memory...: one line for the admin, not a trace
            raise fail(f"analysis failed: {type(exc).__name__}: {exc}", 1) from None
        progress.update(task, advance=1, description="building SEG, SR and pictures")
        key = job_key or offline_job_key(loaded, analysis)
        outputs = build_outputs(loaded, analysis, key, settings)
        progress.update(task, advance=1, description="writing files")
        written = write_outputs(outputs, analysis, out)
        progress.update(task, advance=1, description="done")
    _summary(analysis, written)


def write_outputs(outputs: list, analysis: SpineAnalysis, out: Path) -> list[Path]:
    """Write each object as ``<kind>-<n>.dcm`` and the analysis as ``findings.json``."""
    counts: dict[str, int] = {}
    paths = []
    for ds in outputs:
        kind = output_kind(ds)
        counts[kind] = counts.get(kind, 0) + 1
        path = out / f"{kind}-{counts[kind]}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    findings = out / "findings.json"
    findings.write_text(json.dumps(analysis.to_dict(), indent=2, default=str), encoding="utf-8")
    paths.append(findings)
    return paths


def _summary(analysis: SpineAnalysis, written: list[Path]) -> None:
    table = Table(title="Per-level findings (research / decision support, not for primary diagnosis)")
    table.add_column("level")
    for title in ("Pfirrmann", "narrowing", "Meyerding", "canal", "herniation", "Modic"):
        table.add_column(title)
    for level in analysis.levels:

        def cell(name: str, level=level) -> str:
            grade = level.grade(name)
            if grade is None:
                return "-"
            return grade.value if grade.value is not None else "not assessed"

        modic = f"{cell('modic_upper')}/{cell('modic_lower')}"
        table.add_row(
            level.level,
            cell("pfirrmann"),
            cell("narrowing"),
            cell("meyerding"),
            cell("canal_stenosis"),
            cell("herniation"),
            modic,
        )
    console.print(table)
    if not analysis.qc.naming_certain:
        console.print("[yellow]caution:[/yellow] level naming is uncertain (no anchor in view)")
    for warning in analysis.qc.warnings:
        console.print(f"[yellow]qc:[/yellow] {warning}")
    for path in written:
        console.print(f"wrote {path}")
