"""`dicomnode process SERIES_DIR [--t1 T1_DIR] --out OUT_DIR`: the service's analysis and builders, offline.

Why it exists: a site can try the node on a folder of files before wiring it to a PACS, and a
developer can reproduce a job exactly -- the same loader, the same ``pipeline.spine.analyse_spine``
and the same :func:`dicomnode.results.build.build_outputs` the worker calls, so the objects are identical to what
the service would send for that series (same job key, same UIDs).

``--t1`` pairs the series with a T1 series as the node does (:mod:`dicomnode.pairing`): same study,
same frame of reference, sagittal, T1; the grading then types Modic changes, and findings.json and
the SR name the T1 series.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from dicomnode.commands.common import console, fail
from dicomnode.pairing import PAIRED_CONTRASTS, USED_NOTE, companion_problem, findings_document
from dicomnode.results.build import build_outputs, output_kind
from dicomnode.results.settings import ResultSettings
from dicomnode.series_loader import LoadedSeries, SeriesLoadError, load_series
from pipeline.result import SpineAnalysis


def offline_job_key(loaded: LoadedSeries, analysis: SpineAnalysis, companion: LoadedSeries | None = None) -> str:
    """Series UID + digest of the instance set + algorithm version, as the service's job key is built.

    Same files and same model give the same key, hence the same output UIDs, run after run. A T1
    companion's instances join the digest, as in the service: with and without it are different results.
    """
    instances = sorted(str(ds.SOPInstanceUID) for ds in loaded.datasets)
    if companion is not None:
        instances += ["t1", *sorted(str(ds.SOPInstanceUID) for ds in companion.datasets)]
    digest = hashlib.sha256("\n".join(instances).encode()).hexdigest()[:16]
    series = str(loaded.reference.get("SeriesInstanceUID", "unknown-series"))
    return f"{series}|{digest}|{analysis.algorithm_name}-{analysis.algorithm_version}"


def _default_analyse(fine_pass: bool = True) -> Callable[..., SpineAnalysis]:
    """The pipeline's entry point (segment, name, grade), imported late: it pulls in torch and the weights."""
    from pipeline.spine import analyse_spine

    return functools.partial(analyse_spine, fine_pass=fine_pass)


def process(
    series_dir: Annotated[Path, typer.Argument(help="Folder (searched recursively) or file of one MR series.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the SEG, SR, pictures and findings.json.")],
    t1: Annotated[
        Path | None,
        typer.Option("--t1", help="Folder of a T1 sagittal series of the same study and frame of reference "
                     "(enables Modic typing)."),
    ] = None,
    uid_root: Annotated[str, typer.Option(help="UID root for the outputs (your organisation's, or 2.25).")] = "2.25",
    job_key: Annotated[str | None, typer.Option(help="Override the job key the output UIDs derive from.")] = None,
    gsps: Annotated[bool, typer.Option(help="Also write a presentation state with the level names.")] = False,
    keep_empty_frames: Annotated[bool, typer.Option(help="Write SEG frames without any segment too.")] = False,
    fine_pass: Annotated[
        bool, typer.Option(help="Second network pass on a 1.0 mm grid for the boundaries (as pipeline.fine_pass).")
    ] = True,
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
        companion, note = _load_companion(loaded, t1)
        progress.update(task, advance=1, description=f"analysing {loaded.volume.shape[0]} slices")
        try:
            analyse = _default_analyse(fine_pass)
            analysis = analyse(loaded.volume) if companion is None else analyse(loaded.volume, t1=companion.volume)
        except Exception as exc:  # model missing, out of memory...: one line for the admin, not a trace
            raise fail(f"analysis failed: {type(exc).__name__}: {exc}", 1) from None
        progress.update(task, advance=1, description="building SEG, SR and pictures")
        key = job_key or offline_job_key(loaded, analysis, companion)
        outputs = build_outputs(loaded, analysis, key, settings, companion=companion)
        progress.update(task, advance=1, description="writing files")
        written = write_outputs(outputs, analysis, out, findings_document(analysis, loaded, companion, note))
        progress.update(task, advance=1, description="done")
    _summary(analysis, written)


def _load_companion(loaded: LoadedSeries, t1: Path | None) -> tuple[LoadedSeries | None, str]:
    """The ``--t1`` series, checked by the node's pairing rules, and the findings.json note; exits with
    a one-line message when the folder is not a usable T1 for this series (never silently unused)."""
    if t1 is None:
        return None, "no T1 series given (--t1): Modic typing needs one"
    if loaded.volume.contrast not in PAIRED_CONTRASTS:
        raise fail(f"--t1 pairs a T2 or STIR series with a T1; {loaded.volume.contrast or 'unknown contrast'} given "
                   "as the series to analyse", 2)
    try:
        companion = load_series(t1)
    except SeriesLoadError as exc:
        raise fail(f"--t1 {t1}: {exc}", 2) from None
    problem = companion_problem(loaded, companion)
    if problem is not None:
        raise fail(f"--t1 {t1}: {problem}", 2)
    return companion, USED_NOTE


def write_outputs(outputs: list, analysis: SpineAnalysis, out: Path,
                  document: dict[str, Any] | None = None) -> list[Path]:
    """Write each object as ``<kind>-<n>.dcm`` and ``document`` (default: the analysis) as ``findings.json``."""
    counts: dict[str, int] = {}
    paths = []
    for ds in outputs:
        kind = output_kind(ds)
        counts[kind] = counts.get(kind, 0) + 1
        path = out / f"{kind}-{counts[kind]}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    findings = out / "findings.json"
    document = analysis.to_dict() if document is None else document
    findings.write_text(json.dumps(document, indent=2, default=str), encoding="utf-8")
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
        console.print(f"[yellow]caution:[/yellow] {analysis.qc.naming_statement}")
    for warning in analysis.qc.warnings:
        console.print(f"[yellow]qc:[/yellow] {warning}")
    for path in written:
        console.print(f"wrote {path}")
