"""The versions line printed under every evaluation and stress table."""

from __future__ import annotations

import numpy as np
import scipy
import torch

from pipeline.provenance import library_versions, versions_line


def test_the_versions_line_names_the_libraries_that_move_the_probabilities() -> None:
    versions = library_versions()
    assert versions["numpy"] == np.__version__
    assert versions["scipy"] == scipy.__version__
    assert versions["torch"] == torch.__version__
    line = versions_line()
    assert f"numpy {np.__version__}" in line and f"torch {torch.__version__}" in line
