"""Fixtures for the results tests: synthetic series written once per convention and loaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from dicomnode.series_loader import LoadedSeries, load_series
from tests.results.factory import CONVENTIONS, Convention, write_series


@pytest.fixture(scope="session", params=CONVENTIONS, ids=[c.name for c in CONVENTIONS])
def convention(request: pytest.FixtureRequest) -> Convention:
    return request.param


@pytest.fixture(scope="session")
def series_dir(convention: Convention, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp(f"series-{convention.name}")
    write_series(folder, convention)
    return folder


@pytest.fixture(scope="session")
def loaded(series_dir: Path) -> LoadedSeries:
    return load_series(series_dir)
