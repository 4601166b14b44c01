"""The `dicomnode` command line: one typer app, each command in its own module under `commands/`."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="dicomnode",
    help="DICOM-native AI node for sagittal spine MRI (research / decision support, not for diagnosis).",
    no_args_is_help=True,
    add_completion=False,
)

# Command registrations (one line per command module; keep this list sorted by workflow stage).
