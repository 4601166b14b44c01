"""Working-grid mapping: every sagittal convention lands the same way up, and comes back exactly."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.preprocess import (
    CANONICAL_DIRECTION,
    Canonicaliser,
    NotSagittalError,
    make_working_grid,
    normalise_intensity,
)
from pipeline.volume import Volume
from tests.model.conftest import make_volume, ordinary_directions, rotation_about

DIRECTIONS = ordinary_directions()


@pytest.mark.parametrize(("name", "direction"), DIRECTIONS, ids=[n for n, _ in DIRECTIONS])
def test_canonical_axes_point_left_feet_back_for_every_convention(name: str, direction: np.ndarray) -> None:
    vol = make_volume(np.zeros((5, 7, 9), np.float32), direction)
    canon = Canonicaliser.for_volume(vol)
    # Direction of the canonical array's axes in LPS: source columns permuted and flipped.
    d = vol.direction[:, list(canon.perm)] * np.where(canon.flip, -1.0, 1.0)
    cosines = np.einsum("ij,ij->j", d, CANONICAL_DIRECTION)
    assert (cosines > np.cos(np.radians(15))).all(), name


@pytest.mark.parametrize(("name", "direction"), DIRECTIONS, ids=[n for n, _ in DIRECTIONS])
def test_canonical_array_shows_each_voxel_at_its_patient_position(name: str, direction: np.ndarray) -> None:
    """A value encoding the superior coordinate decreases down the rows, whatever the convention."""
    shape = (4, 6, 8) if "rowS" in name else (4, 8, 6)
    vol = make_volume(np.zeros(shape, np.float32), direction)
    k, j, i = np.indices(shape)
    lps = vol.index_to_lps(np.stack([k, j, i], -1).reshape(-1, 3)).reshape(*shape, 3)
    canon = Canonicaliser.for_volume(vol)
    z = canon.forward(lps[..., 2])
    y = canon.forward(lps[..., 1])
    x = canon.forward(lps[..., 0])
    assert (np.diff(z, axis=1) < 0).all()  # rows go towards the feet
    assert (np.diff(y, axis=2) > 0).all()  # columns go towards the back
    assert (np.diff(x, axis=0) > 0).all()  # slices go towards patient left


@pytest.mark.parametrize(("name", "direction"), DIRECTIONS, ids=[n for n, _ in DIRECTIONS])
def test_round_trip_is_exact_at_model_spacing(name: str, direction: np.ndarray, rng: np.random.Generator) -> None:
    labels = rng.integers(0, 30, size=(5, 40, 36)).astype(np.uint8)
    vol = make_volume(labels, direction, spacing=(3.5, 1.25, 1.25))
    grid = make_working_grid(vol, 1.25)
    back = grid.to_source(grid.to_working(labels, order=0), order=0)
    assert back.shape == labels.shape
    assert np.array_equal(back, labels), name


@pytest.mark.parametrize(("name", "direction"), DIRECTIONS, ids=[n for n, _ in DIRECTIONS])
def test_round_trip_of_labels_through_resampling_keeps_shapes(name: str, direction: np.ndarray) -> None:
    """At 0.7 mm source pixels the 1.25 mm working grid loses only boundary voxels."""
    labels = np.zeros((3, 120, 100), np.uint8)
    labels[:, 20:60, 30:70] = 5
    labels[:, 70:100, 10:50] = 123
    vol = make_volume(labels, direction, spacing=(4.0, 0.7, 0.7))
    grid = make_working_grid(vol, 1.25)
    work = grid.to_working(labels, order=0)
    assert work.shape[1] < labels.shape[1] or work.shape[2] < labels.shape[2]
    back = grid.to_source(work, order=0)
    assert back.shape == labels.shape
    for lab in (5, 123):
        a, b = labels == lab, back == lab
        dice = 2 * (a & b).sum() / (a.sum() + b.sum())
        assert dice > 0.95, (name, lab, dice)


def test_probability_round_trip_is_exact_for_linear_fields() -> None:
    """Linear interpolation reproduces a linear ramp exactly: no half-voxel shift between grids."""
    direction = np.column_stack([[-1.0, 0, 0], [0, 0, -1.0], [0, -1.0, 0]])
    _, j, i = np.indices((2, 50, 40)).astype(np.float32)
    ramp = 0.3 * j + 0.1 * i
    vol = make_volume(ramp, direction, spacing=(4.0, 0.8, 0.8))
    grid = make_working_grid(vol, 1.25)
    back = grid.to_source(grid.to_working(ramp, order=1), order=1)
    inner = (slice(None), slice(3, -3), slice(3, -3))  # the last working pixel stops short of one edge
    np.testing.assert_allclose(back[inner], ramp[inner], atol=1e-4)


def test_axial_series_is_refused() -> None:
    axial = np.column_stack([[0, 0, 1.0], [0, 1.0, 0], [1.0, 0, 0]])
    vol = Volume(np.zeros((4, 5, 6)), (3.0, 1.0, 1.0), axial, np.zeros(3))
    with pytest.raises(NotSagittalError):
        Canonicaliser.for_volume(vol)


def test_strongly_oblique_series_is_refused() -> None:
    d = rotation_about(np.array([0.0, 0.0, 1.0]), 60.0) @ np.column_stack([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]])
    vol = Volume(np.zeros((4, 5, 6)), (3.0, 1.0, 1.0), d, np.zeros(3))
    with pytest.raises(NotSagittalError):
        Canonicaliser.for_volume(vol)


@pytest.mark.parametrize("scale", [1.0, 37.0, 4095.0])
def test_intensity_normalisation_ignores_scanner_scale_and_offset(scale: float, rng: np.random.Generator) -> None:
    base = rng.gamma(2.0, 1.0, size=(4, 32, 32)).astype(np.float32)
    base[:, :8] = 0  # air
    ref = normalise_intensity(base)
    out = normalise_intensity(base * scale + 10 * scale)
    np.testing.assert_allclose(out, ref, atol=1e-4)
    assert -0.25 < float(np.median(out)) < 1.0
