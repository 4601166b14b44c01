"""The rib classifier: its patches, its flags, its weights file, and its training command end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.inference import ModelLoadError
from pipeline.rib_net import (
    NO_RIB,
    RIB,
    RibNet,
    flags_from_probabilities,
    load_rib_classifier,
    save_rib_weights,
    stack_sides,
)
from pipeline.rib_patches import CHANNELS, LATERAL_MM, patch_shape, vertebra_patches
from pipeline.train_ribs import body_centres, phantom_examples
from pipeline.train_ribs import main as train_main


def _column(n: int = 5, step: float = 30.0) -> list[np.ndarray]:
    return [np.array([40.0, 60.0 + step * i, 80.0]) for i in range(n)]


def test_patch_planes_follow_the_slab_and_mark_what_lies_outside_it() -> None:
    image = np.zeros((21, 240, 200), np.float32)
    spacing = (4.0, 1.25, 1.25)
    # a bright plate 24 mm to the patient's left of the centre (slice 10 + 6 = 16), and nothing on the right
    image[16] = 1.0
    centres = [np.array([40.0, 150.0, 125.0]), np.array([40.0, 180.0, 125.0])]
    patches = vertebra_patches(image, spacing, centres)
    assert patches.shape == (2, 2, *patch_shape())
    n_lat = len(LATERAL_MM)
    k = LATERAL_MM.index(24.0)
    left, right = patches[0, 0], patches[0, 1]
    assert left[k].max() == pytest.approx(1.0)
    assert left[[i for i in range(n_lat) if abs(LATERAL_MM[i] - 24.0) >= 4]].max() == 0.0
    assert right[:n_lat].max() == 0.0
    # slices reach 40 mm either side: the 44 and 48 mm planes are outside the slab, mask 0
    assert left[n_lat + LATERAL_MM.index(40.0)].max() == 1.0
    assert left[n_lat + LATERAL_MM.index(44.0)].max() == 0.0


def test_patches_turn_with_the_column() -> None:
    """A tilted column gives the same patch as an upright one: the frame follows the spine's axis."""
    spacing = (4.0, 1.0, 1.0)
    image = np.zeros((21, 300, 300), np.float32)
    upright = [np.array([40.0, 100.0 + 30 * i, 150.0]) for i in range(4)]
    image[:, 125:135, 160:170] = 1.0  # behind the second body, on every slice
    a = vertebra_patches(image, spacing, upright)[1]
    angle = np.radians(20)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    pivot = np.array([130.0, 150.0])
    tilted_image = np.zeros_like(image)
    rr, cc = np.mgrid[0:300, 0:300].astype(float)
    back = np.einsum("ij,jkl->ikl", rot.T, np.stack([rr - pivot[0], cc - pivot[1]])) + pivot[:, None, None]
    inside = (back[0] >= 125) & (back[0] < 135) & (back[1] >= 160) & (back[1] < 170)
    tilted_image[:, inside] = 1.0
    tilted = [np.array([c[0], *(rot @ (c[1:] - pivot) + pivot)]) for c in upright]
    b = vertebra_patches(tilted_image, spacing, tilted)[1]
    n_lat = len(LATERAL_MM)
    overlap = (a[0, :n_lat] > 0.5) & (b[0, :n_lat] > 0.5)
    assert overlap.sum() >= 0.7 * (a[0, :n_lat] > 0.5).sum() > 0


def test_flags_judge_bodies_only_and_leave_the_middle_undecided() -> None:
    kinds = ["c2", "vertebra", "vertebra", "vertebra", "sacrum"]
    flags = flags_from_probabilities([0.99, RIB, 0.5, NO_RIB, 0.0], kinds)
    assert flags == [None, True, None, False, None]


def test_a_corrupt_classifier_stops_with_the_file_named(tmp_path: Path) -> None:
    path = tmp_path / "rib_net.pt"
    save_rib_weights(RibNet(8), path, {"width": 8, "version": "t"})
    loaded = load_rib_classifier(path)
    assert loaded is not None and loaded.version == "t"
    assert load_rib_classifier(tmp_path / "absent.pt") is None
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ModelLoadError, match=r"rib_net\.pt"):
        load_rib_classifier(path)


def test_probabilities_do_not_depend_on_which_side_is_left(tmp_path: Path) -> None:
    """Ribs come in pairs: the classifier averages both side orders, so mirroring the series changes nothing."""
    torch.manual_seed(0)
    path = tmp_path / "rib_net.pt"
    save_rib_weights(RibNet(8), path, {"width": 8})
    clf = load_rib_classifier(path)
    assert clf is not None
    rng = np.random.default_rng(0)
    image = rng.random((15, 200, 160)).astype(np.float32)
    centres = [np.array([28.0, 40.0 + 30 * i, 100.0]) for i in range(4)]
    mirrored = image[::-1].copy()
    centres_m = [np.array([(15 - 1) * 4.0 - c[0], c[1], c[2]]) for c in centres]
    p = clf.probabilities(image, (4.0, 1.25, 1.25), centres)
    q = clf.probabilities(mirrored, (4.0, 1.25, 1.25), centres_m)
    assert p.shape == (4,)
    np.testing.assert_allclose(p, q, atol=1e-5)


def test_a_ribbed_phantom_labels_thoracic_bodies_as_ribbed_and_a_ribless_one_none() -> None:
    seed = 3_000_007
    x, y, names = phantom_examples((seed, 0, 0.0, 0.0))
    assert x.shape[1:] == (2 * CHANNELS, *patch_shape()[1:])
    assert len(y) == len(names) == len(x) > 0
    assert all(bool(v) == n.startswith("T") for v, n in zip(y, names, strict=True))
    assert not {"C1", "C2", "S1"} & set(names)
    _, y0, names0 = phantom_examples((seed, 0, 1.0, 0.0))
    assert y0.sum() == 0 and names0 == names


def test_body_centres_are_ordered_head_to_feet_and_skip_cut_bodies() -> None:
    labels = np.zeros((3, 100, 20), np.uint8)
    labels[:, 10:30] = 20  # L1
    labels[:, 40:60] = 21  # L2
    labels[:, 95:97] = 22  # a sliver of L3 at the edge
    names, centres = body_centres(labels, (4.0, 1.0, 1.0))
    assert names == ["L1", "L2"]
    assert centres[0][1] == pytest.approx(19.5) and centres[1][1] == pytest.approx(49.5)


def test_stack_sides_keeps_left_channels_first() -> None:
    p = np.zeros((1, 2, CHANNELS, 3, 4), np.float32)
    p[0, 1] = 1.0
    s = stack_sides(p)
    assert s.shape == (1, 2 * CHANNELS, 3, 4)
    assert s[0, :CHANNELS].max() == 0 and s[0, CHANNELS:].min() == 1


def test_the_training_command_writes_weights_the_loader_accepts(tmp_path: Path) -> None:
    out = tmp_path / "rib.pt"
    train_main([
        "--out", str(out), "--phantoms", "3", "--validation", "1", "--steps", "3", "--batch", "4",
        "--width", "8", "--workers", "1", "--threads", "1", "--no-real",
    ])  # fmt: skip
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["trained"]["steps"] == 3 and meta["scores"][0]["set"] == "validation"
    assert load_rib_classifier(out) is not None


class _StubClassifier:
    """Says every vertebra carries a rib, and records what it was asked."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def probabilities(self, image: np.ndarray, spacing: tuple[float, ...], centers_mm: list) -> np.ndarray:
        assert image.ndim == 3 and len(spacing) == 3
        self.calls.append(len(centers_mm))
        return np.ones(len(centers_mm))


def test_analyse_takes_the_rib_evidence_from_the_classifier_and_can_go_without() -> None:
    from pipeline.analyse import analyse
    from pipeline.inference import get_model
    from pipeline.phantom import generate

    case = generate(3_000_011, region="lumbar", contrast="T2", truth=False, n_slices=9)
    model = get_model(device="cpu")
    stub = _StubClassifier()
    with_ribs = analyse(case.volume, model, fine_pass=False, rib_classifier=stub)  # type: ignore[arg-type]
    assert stub.calls and stub.calls[0] >= 5
    judged = with_ribs.qc.ribs
    assert judged and all(judged.values())  # every body judged ribbed, C1/C2/sacrum never
    assert "S1" not in judged and "sacrum" not in judged
    without = analyse(case.volume, model, fine_pass=False, rib_classifier=stub, rib_evidence=False)  # type: ignore[arg-type]
    assert len(stub.calls) == 1 and without.qc.ribs == {}


def test_a_fold_rib_classifier_trained_on_its_own_test_cases_is_refused(tmp_path: Path) -> None:
    from pipeline.evaluate import _fold_rib_classifier

    path = tmp_path / "rib0.pt"
    save_rib_weights(RibNet(8), path, {"width": 8, "trained": {"real_cases": ["VB2_02", "VB2_04"]}})
    with pytest.raises(SystemExit, match="VB2_04"):
        _fold_rib_classifier(str(path), ["VB2_04", "VB2_09"], 0)
    assert _fold_rib_classifier(str(path), ["VB2_05"], 1).sha256


def test_the_real_split_holds_a_fold_out_of_training() -> None:
    import argparse

    from pipeline.train import REAL_DATA, cv_folds, real_case_names
    from pipeline.train_ribs import real_split

    if not REAL_DATA.exists():
        assert real_split(argparse.Namespace(cv_fold=0, real_train=True)) == ([], [])
        return
    train, held = real_split(argparse.Namespace(cv_fold=2, real_train=True))
    assert held == cv_folds(real_case_names())[2] and not set(train) & set(held)
    assert len(train) + len(held) == len(real_case_names())
    assert real_split(argparse.Namespace(cv_fold=None, real_train=False)) == ([], real_case_names())
