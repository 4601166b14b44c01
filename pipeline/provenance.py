"""The library versions behind a figure or a weights file.

Why: round 16 could not reproduce a published phantom table (5349 against 5330 names) on a fresh install,
and the difference lay in the network's probabilities, not in the rules; the versions behind the first
table had not been written down. Every evaluation table and every training sidecar now carries them.
"""

from __future__ import annotations

import platform
import sys

import numpy as np
import scipy
import torch


def library_versions() -> dict[str, str]:
    """The versions that change the network's probabilities or the rules' arithmetic."""
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "torch": torch.__version__,
        "machine": f"{sys.platform}-{platform.machine()}",
        "torch_threads": str(torch.get_num_threads()),
    }


def versions_line() -> str:
    """One line for the foot of a printed table: ``python 3.11.2, numpy 2.4.6, ...``."""
    return ", ".join(f"{k} {v}" for k, v in library_versions().items())
