"""What every command shares: the --config option and turning a configuration problem into one line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from dicomnode.config import ConfigError, Settings, load_settings

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="config.toml to use (else $DICOMNODE_CONFIG, else ./config.toml)."),
]

console = Console()
errors = Console(stderr=True)


def settings_or_exit(config: Path | None) -> Settings:
    """Load the settings or print the one-line reason and exit with status 2."""
    try:
        settings, _ = load_settings(config)
    except ConfigError as exc:
        errors.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    return settings


def fail(message: str, code: int = 1) -> typer.Exit:
    errors.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)
