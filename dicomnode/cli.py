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
from dicomnode.commands.admin import db_app, jobs, retry, status  # noqa: E402
from dicomnode.commands.rules import rules_test  # noqa: E402
from dicomnode.commands.serve import serve, worker  # noqa: E402

app.command("serve")(serve)
app.command("worker")(worker)
app.command("status")(status)
app.command("jobs")(jobs)
app.command("retry")(retry)
app.command("rules-test")(rules_test)
app.add_typer(db_app, name="db")
from dicomnode.commands.phantom import phantom  # noqa: E402

app.command("phantom")(phantom)

from dicomnode.commands.process import process  # noqa: E402

app.command("process")(process)
