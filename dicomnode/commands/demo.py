"""`dicomnode demo`: start the node and a local PACS, send a phantom, show what comes back."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from dicomnode.commands.common import console, fail

GRADE_COLUMNS = (
    ("pfirrmann", "Pfirrmann"), ("narrowing", "narrowing"), ("meyerding", "Meyerding"),
    ("canal_stenosis", "canal"), ("herniation", "herniation"),
)


def demo(
    workdir: Annotated[Path | None, typer.Option(help="Folder for the node's data and the received results.")]
    = None,
    seed: Annotated[int, typer.Option(help="Phantom seed.")] = 7,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the results.")] = 600.0,
) -> None:
    """Show the whole loop: phantom series -> C-STORE -> analysis -> SEG, SR and pictures back."""
    import logging

    from dicomnode.demo import run_demo

    logging.basicConfig(level=logging.WARNING)
    folder = workdir or Path(tempfile.mkdtemp(prefix="dicomnode-demo-"))
    with console.status("starting") as status:
        try:
            result = run_demo(folder, seed=seed, timeout_s=timeout, progress=status.update)
        except (RuntimeError, TimeoutError) as exc:
            raise fail(str(exc)) from None
    table = Table(title="Findings per disc level (research / decision support, not for primary diagnosis)")
    table.add_column("level")
    for _, title in GRADE_COLUMNS:
        table.add_column(title)
    table.add_column("canal AP (mm)", justify="right")
    for level in result.findings.get("levels", []):
        grades = {g["name"]: g for g in level.get("grades", [])}
        measures = {m["name"]: m for m in level.get("measurements", [])}
        cells = [grades.get(key, {}).get("value") or "not assessed" for key, _ in GRADE_COLUMNS]
        canal = measures.get("canal_ap_diameter")
        table.add_row(level["level"], *cells, f"{canal['value']:.1f}" if canal else "")
    console.print(table)
    qc = result.findings.get("qc", {})
    console.print(f"naming: {qc.get('naming', 'not reported')}; "
                  f"warnings: {'; '.join(qc.get('warnings', [])) or 'none'}")
    console.print(f"received by the demo PACS in {result.seconds:.0f} s:")
    for path in sorted(result.received):
        console.print(f"  {path}")
    console.print(f"node data and findings.json under {folder / 'node-data'}")
