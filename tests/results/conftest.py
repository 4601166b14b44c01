"""Fixtures for the results tests: synthetic series written once per convention and loaded."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from pydicom.dataset import Dataset

from dicomnode.results.build import ResultSettings, build_outputs, output_kind
from dicomnode.series_loader import LoadedSeries, load_series
from pipeline.result import SpineAnalysis
from tests.results.factory import CONVENTIONS, Convention, make_analysis, write_series

TEST_UID_ROOT = "1.2.826.0.1.3680043.10.999"
JOB_KEY = "1.2.3.4-series|digest-abc|pipeline-0.1"
CREATED = datetime(2026, 1, 2, 3, 4, 5)


def save_by_kind(outputs: list[Dataset], folder: Path) -> dict:
    """Save outputs as ``<kind>-<InstanceNumber>.dcm``: {"seg": path, "sr": path, "picture": [paths], "gsps": path}."""
    files: dict = {"picture": []}
    for ds in outputs:
        kind = output_kind(ds)
        path = folder / f"{kind}-{ds.InstanceNumber}.dcm"
        ds.save_as(path, enforce_file_format=True)
        if kind == "picture":
            files["picture"].append(path)
        else:
            files[kind] = path
    return files


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


@pytest.fixture(scope="session")
def analysis(loaded: LoadedSeries) -> SpineAnalysis:
    return make_analysis(loaded.volume)


@pytest.fixture(scope="session")
def settings() -> ResultSettings:
    return ResultSettings(uid_root=TEST_UID_ROOT, gsps=True)


@pytest.fixture(scope="session")
def outputs(loaded: LoadedSeries, analysis: SpineAnalysis, settings: ResultSettings) -> list[Dataset]:
    return build_outputs(loaded, analysis, JOB_KEY, settings, created=CREATED)


@pytest.fixture(scope="session")
def written(outputs: list[Dataset], convention: Convention, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The outputs saved as files, by kind: {"seg": path, "sr": path, "picture": [paths], "gsps": path}."""
    return save_by_kind(outputs, tmp_path_factory.mktemp(f"out-{convention.name}"))
