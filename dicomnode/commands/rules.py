"""`dicomnode rules-test DIR`: what the routing rules would decide for every series in a folder."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Annotated

import pydicom
import typer
from pydicom.errors import InvalidDicomError
from rich.table import Table

from dicomnode.commands.common import ConfigOption, console, fail, settings_or_exit
from dicomnode.headers import enhanced_orientation, is_own_output
from dicomnode.routing import SeriesFacts, decide, plane_of


def _facts(datasets: list[pydicom.Dataset]) -> SeriesFacts:
    first = datasets[0]
    orientation = first.get("ImageOrientationPatient")
    if orientation is None and "SharedFunctionalGroupsSequence" in first:
        orientation = enhanced_orientation(first)
    frames = sum(int(ds.get("NumberOfFrames", 1) or 1) for ds in datasets)
    return SeriesFacts(
        modality=first.get("Modality"),
        sop_class_uid=str(first.get("SOPClassUID", "")),
        orientation=tuple(float(v) for v in orientation) if orientation else None,
        series_description=first.get("SeriesDescription"),
        protocol_name=first.get("ProtocolName"),
        body_part=first.get("BodyPartExamined"),
        calling_ae_title=None,
        slices=frames,
        own_output=is_own_output(first),
    )


def rules_test(
    folder: Annotated[Path, typer.Argument(help="Folder searched recursively for DICOM files.")],
    config: ConfigOption = None,
    calling_ae: Annotated[str | None, typer.Option(help="Pretend the series came from this AE.")] = None,
) -> None:
    """Dry run of the routing rules: the decision and the rule that made it, per series."""
    settings = settings_or_exit(config)
    if not folder.is_dir():
        raise fail(f"{folder} is not a folder")
    groups: dict[str, list[pydicom.Dataset]] = defaultdict(list)
    skipped = 0
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        try:
            dataset = pydicom.dcmread(path, stop_before_pixels=True)
        except (InvalidDicomError, OSError, ValueError, EOFError):
            skipped += 1
            continue
        groups[str(dataset.get("SeriesInstanceUID", "?"))].append(dataset)
    table = Table(show_header=True, title=f"routing decisions for {folder}")
    for column in ("series", "modality", "plane", "slices", "decision", "rule", "reason"):
        table.add_column(column)
    for datasets in groups.values():
        facts = _facts(datasets)
        if calling_ae:
            facts = SeriesFacts(**{**facts.__dict__, "calling_ae_title": calling_ae})
        decision = decide(settings.routing, facts)
        first = datasets[0]
        label = f"#{first.get('SeriesNumber', '?')} {first.get('SeriesDescription', '')}".strip()
        colour = "green" if decision.action == "analyse" else "yellow"
        table.add_row(label, str(facts.modality), str(plane_of(facts.orientation)), str(facts.slices),
                      f"[{colour}]{decision.action}[/{colour}]", decision.rule, decision.reason)
    console.print(table)
    if skipped:
        console.print(f"{skipped} file(s) skipped: not DICOM")
