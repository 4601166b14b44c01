"""`python -m dicomnode` is the same as the `dicomnode` command."""

from dicomnode.cli import app

app()
