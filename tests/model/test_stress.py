"""The stress changes of ``python -m pipeline.stress``: each does what its name says, in every convention."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline import labels as L
from pipeline import stress
from pipeline.evaluate import SeriesScore
from pipeline.preprocess import normalise_intensity
from tests.model.conftest import make_volume, sagittal_conventions

CONVENTIONS = sagittal_conventions()
LEVELS = ("T11", "T12", "L1", "L2", "L3", "L4", "L5")


def column(direction: np.ndarray) -> tuple:
    """A volume with seven labelled blocks stacked head to feet along whichever axis points S/I."""
    volume = make_volume(np.zeros((4, 70, 80), np.float32), direction, spacing=(4.0, 1.0, 1.0))
    hf, sign = stress.in_plane_axis(volume, 2)
    labels = np.zeros(volume.shape, np.uint8)
    n = volume.shape[hf]
    for k, level in enumerate(LEVELS):  # T11 at the head end
        a, b = k * n // 7 + 1, (k + 1) * n // 7 - 1
        if sign > 0:  # the index grows towards the head: the head end is the high index
            a, b = n - b, n - a
        index = [slice(None), slice(5, 65), slice(5, 75)]
        index[hf] = slice(a, b)
        labels[tuple(index)] = L.VERTEBRA_LABELS[level]
    array = 100.0 + labels.astype(np.float32)
    return stress._with_array(volume, array), labels


@pytest.mark.parametrize(("name", "direction"), CONVENTIONS, ids=[n for n, _ in CONVENTIONS])
def test_in_plane_axis_finds_head_and_back(name: str, direction: np.ndarray) -> None:
    volume = make_volume(np.zeros((3, 8, 9), np.float32), direction)
    for lps in (1, 2):
        axis, sign = stress.in_plane_axis(volume, lps)
        assert sign * direction[lps, axis] == pytest.approx(1.0)


@pytest.mark.parametrize(("name", "direction"), CONVENTIONS, ids=[n for n, _ in CONVENTIONS])
def test_cuts_keep_the_named_side_and_the_geometry(name: str, direction: np.ndarray) -> None:
    volume, labels = column(direction)
    rng = np.random.default_rng(0)
    top, top_truth = stress.cut_at("L1", keep="feet")(volume, labels, rng)
    present = {L.VERTEBRA_NAMES[v] for v in np.unique(top_truth) if v}
    assert present == {"L2", "L3", "L4", "L5"}  # L1 is halved: unscored
    bottom, bottom_truth = stress.cut_at("L4", keep="head")(volume, labels, rng)
    assert {L.VERTEBRA_NAMES[v] for v in np.unique(bottom_truth) if v} == {"T11", "T12", "L1", "L2", "L3"}
    for cut, truth in ((top, top_truth), (bottom, bottom_truth)):
        # Every kept voxel sits where it sat before: find one labelled voxel and compare positions.
        level = int(truth[truth > 0][0])
        index = np.argwhere(truth == level)[0]
        before = np.argwhere(labels == level)
        position = cut.index_to_lps(index.astype(float))
        distances = np.linalg.norm(volume.index_to_lps(before.astype(float)) - position, axis=1)
        assert distances.min() < 1e-6
        assert np.asarray(cut.array).shape == truth.shape


@pytest.mark.parametrize(("name", "direction"), CONVENTIONS[:4], ids=[n for n, _ in CONVENTIONS[:4]])
def test_coil_shading_darkens_the_front(name: str, direction: np.ndarray) -> None:
    volume = make_volume(np.ones((2, 40, 50), np.float32), direction)
    shaded, _ = stress.coil_shading(volume, np.zeros(volume.shape, np.uint8), np.random.default_rng(0))
    ap, sign = stress.in_plane_axis(volume, 1)
    profile = np.asarray(shaded.array).mean(axis=tuple(a for a in range(3) if a != ap))
    back, front = (profile[-1], profile[0]) if sign > 0 else (profile[0], profile[-1])
    assert front < 0.3 * back


def test_rescaling_is_invisible_after_normalisation() -> None:
    volume, labels = column(CONVENTIONS[0][1])
    noisy, _ = stress.rician_noise(8.0)(volume, labels, np.random.default_rng(1))
    scaled, _ = stress.rescaled(noisy, labels, np.random.default_rng(1))
    np.testing.assert_allclose(normalise_intensity(scaled.array), normalise_intensity(noisy.array), atol=1e-4)


def test_noise_is_seeded_and_at_the_asked_level() -> None:
    volume, labels = column(CONVENTIONS[0][1])
    a, _ = stress.rician_noise(10.0)(volume, labels, np.random.default_rng(3))
    b, _ = stress.rician_noise(10.0)(volume, labels, np.random.default_rng(3))
    np.testing.assert_array_equal(a.array, b.array)
    flat = np.asarray(a.array)[labels == L.VERTEBRA_LABELS["L3"]]
    level = stress._tissue_level(volume.array)
    assert 0.07 * level < flat.std() < 0.13 * level


def test_coarse_pixels_halve_the_grid_and_keep_positions() -> None:
    volume, labels = column(CONVENTIONS[2][1])
    coarse, truth = stress.coarse_pixels(volume, labels, np.random.default_rng(0))
    assert coarse.shape == truth.shape == (4, 35, 40)
    assert coarse.spacing == (4.0, 2.0, 2.0)
    np.testing.assert_allclose(
        coarse.index_to_lps(np.array([1.0, 3.0, 5.0])), volume.index_to_lps(np.array([1.0, 6.0, 10.0]))
    )


def test_tilt_turns_the_labels_with_the_image() -> None:
    volume, labels = column(CONVENTIONS[0][1])
    turned, truth = stress.tilted(15.0)(volume, labels, np.random.default_rng(0))
    level = L.VERTEBRA_LABELS["L3"]
    # The image was 100 + label: the turned image still reads the label where the turned truth says so.
    inside = np.asarray(turned.array)[truth == level]
    assert abs(np.median(inside) - (100 + level)) < 1.0
    assert 0.8 < (truth == level).sum() / (labels == level).sum() < 1.2


def test_table_counts_wrong_while_certain() -> None:
    right = SeriesScore("VB2_02", dice={"body": 0.9}, named=7, scored=7, certain=True)
    wrong = SeriesScore("VB2_04", dice={"body": 0.8}, named=0, scored=7, certain=True, wrong_names=["L1->L2"])
    text = stress.table([stress.StressScore("tilt+15", right), stress.StressScore("tilt+15", wrong)])
    row = next(line for line in text.splitlines() if line.startswith("| tilt+15"))
    assert row == "| tilt+15 | 2 | 0.850 | 50.0 % (7/14) | 1 | 2 | 1 |"


def test_combine_joins_runs_into_one_table(tmp_path, capsys) -> None:
    import json

    for i, named in enumerate((7, 5)):
        wrong = ["L1->missed", "L2->L3"][: 7 - named]
        score = SeriesScore(f"VB2_0{i}", dice={"body": 0.9}, named=named, scored=7, wrong_names=wrong)
        (tmp_path / f"{i}.json").write_text(json.dumps([{"stress": "ghosts", **score.__dict__}]))
    stress.main(["--combine", str(tmp_path / "0.json"), str(tmp_path / "1.json")])
    out = capsys.readouterr().out
    assert "| ghosts | 2 | 0.900 | 85.7 % (12/14) | 1 | 0 | 0 |" in out


def test_metal_artefact_voids_the_back_of_the_level_and_keeps_the_truth() -> None:
    volume, labels = column(CONVENTIONS[0][1])
    out, truth = stress.metal_artefact("L3")(volume, labels, np.random.default_rng(0))
    np.testing.assert_array_equal(truth, labels)
    dark = np.asarray(out.array) < 0.1 * stress._tissue_level(volume.array)
    assert dark.any()
    # The void's centre lies behind (posterior to) the L3 body's centre and level with it.
    centre = out.index_to_lps(np.argwhere(dark).mean(axis=0))
    body = volume.index_to_lps(np.argwhere(labels == L.VERTEBRA_LABELS["L3"]).mean(axis=0))
    assert centre[1] - body[1] > 10.0
    assert abs(centre[2] - body[2]) < 5.0
