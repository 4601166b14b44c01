"""The `dicomnode` command line: one typer app, each command in its own module under `commands/`.

Commands read as the data's journey: make or receive images, route and analyse them, look after the
node. Heavy imports (torch, highdicom) happen inside the commands that need them, so `--help` and the
admin commands answer at once.
"""

from __future__ import annotations

import typer

from dicomnode.commands.admin import db_app, jobs, retry, status
from dicomnode.commands.demo import demo
from dicomnode.commands.phantom import phantom
from dicomnode.commands.process import process
from dicomnode.commands.rules import rules_test
from dicomnode.commands.serve import serve, worker

app = typer.Typer(
    name="dicomnode",
    help="DICOM-native AI node for sagittal spine MRI (research / decision support, not for diagnosis).",
    no_args_is_help=True,
    add_completion=False,
)

app.command("demo")(demo)
app.command("serve")(serve)
app.command("worker")(worker)
app.command("phantom")(phantom)
app.command("process")(process)
app.command("rules-test")(rules_test)
app.command("status")(status)
app.command("jobs")(jobs)
app.command("retry")(retry)
app.add_typer(db_app, name="db")
