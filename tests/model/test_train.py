"""The training command, run for real on a configuration small enough for a test (seconds on the CPU)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.inference import load_model, sidecar_path
from pipeline.train import REAL_DATA, cv_folds, main, real_case_names

HAVE_REAL = (REAL_DATA / "manifest.json").is_file()


def _real_args() -> tuple[list[str], set[str]]:
    """Options that keep two real cases (one of fold 0 is left out by ``--cv-fold 0``), and the cases kept."""
    if not HAVE_REAL:
        return ["--no-real"], set()
    names = real_case_names()
    fold0, fold1 = cv_folds(names)[0], cv_folds(names)[1]
    keep = {fold0[0], fold1[0], fold1[1]}
    return ["--cv-fold", "0", "--exclude", *sorted(set(names) - keep)], keep - {fold0[0]}


def _train(out: Path, seed: int, *extra: str) -> dict:
    real, _ = _real_args()
    argv = [
        "--out", str(out), "--seed", str(seed), "--steps", "3", "--batch", "4", "--crop", "64",
        "--widths", "4", "8", "--phantoms", "1", "--phantom-offset", "7", "--device", "cpu",
        "--version", "test", *real, *extra,
    ]  # fmt: skip
    main(argv)
    return json.loads(sidecar_path(out).read_text())


def _state(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


def test_a_small_configuration_trains_on_the_cpu_and_the_same_seed_gives_the_same_weights(tmp_path: Path) -> None:
    first = _train(tmp_path / "a.pt", seed=5)
    _train(tmp_path / "b.pt", seed=5)
    _train(tmp_path / "c.pt", seed=6)

    assert first["trained_steps"] == 3 and first["device"] == "cpu" and first["seed"] == 5
    assert first["command"].startswith("python -m pipeline.train --out")
    # The versions behind the weights travel with them (round 16 could not tell why a table moved).
    assert first["libraries"]["numpy"] == np.__version__ and first["libraries"]["torch"] == torch.__version__
    # Compared tensor by tensor: the archive torch writes names its folder after the file.
    a, b, c = (_state(tmp_path / f"{n}.pt") for n in "abc")
    assert all(torch.equal(a[k], b[k]) for k in a), "same command and seed, different weights"
    assert not all(torch.equal(a[k], c[k]) for k in a), "the seed does not reach the weights"

    # The file is a model the node can load (checksum from the sidecar) and run.
    model = load_model(tmp_path / "a.pt", device="cpu")
    probs = model.predict(np.random.default_rng(0).random((2, 64, 64), dtype=np.float32))
    assert probs.shape == (2, model.config.num_classes, 64, 64)
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-3)


@pytest.mark.skipif(not HAVE_REAL, reason="real cases not present")
def test_a_cross_validation_fold_never_trains_on_its_own_cases(tmp_path: Path) -> None:
    meta = _train(tmp_path / "fold0.pt", seed=1)
    _, expected = _real_args()
    assert set(meta["data"]["real_cases"]) == expected
    assert not set(meta["data"]["real_cases"]) & set(cv_folds(real_case_names())[0])


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_asking_for_cuda_without_a_gpu_stops_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="no CUDA GPU"):
        main(["--out", str(tmp_path / "x.pt"), "--device", "cuda", "--steps", "1"])
    assert not (tmp_path / "x.pt").exists()
