"""Shared fixtures for the model tests: hand-made sagittal volumes in every orientation convention."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from pipeline.volume import Volume

L_AXIS = np.array([1.0, 0.0, 0.0])
P_AXIS = np.array([0.0, 1.0, 0.0])
S_AXIS = np.array([0.0, 0.0, 1.0])


def rotation_about(axis: np.ndarray, degrees: float) -> np.ndarray:
    """Rodrigues rotation matrix."""
    a = axis / np.linalg.norm(axis)
    t = np.radians(degrees)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + np.sin(t) * k + (1 - np.cos(t)) * k @ k


def sagittal_conventions() -> list[tuple[str, np.ndarray]]:
    """Direction matrices of every sagittal convention: slices L->R or R->L, rows along S/I or A/P."""
    out = []
    for slice_sign, (row_axis, col_axis), row_sign, col_sign in itertools.product(
        (1, -1), ((S_AXIS, P_AXIS), (P_AXIS, S_AXIS)), (1, -1), (1, -1)
    ):
        d = np.column_stack([slice_sign * L_AXIS, row_sign * row_axis, col_sign * col_axis])
        name = f"slice{slice_sign:+d}_row{'SP'[int(row_axis is P_AXIS)]}{row_sign:+d}_col{col_sign:+d}"
        out.append((name, d))
    return out


def ordinary_directions() -> list[tuple[str, np.ndarray]]:
    """Conventions plus the same grids tilted by a few degrees (oblique sagittal)."""
    base = sagittal_conventions()
    tilted = [(f"{n}_oblique", rotation_about(np.array([0.3, 1.0, 0.2]), 9.0) @ d) for n, d in base]
    return base + tilted


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def make_volume(array: np.ndarray, direction: np.ndarray, spacing=(3.0, 0.7, 0.7)) -> Volume:
    return Volume(array, spacing, direction, np.array([-20.0, -110.0, 150.0]), contrast="T2")
