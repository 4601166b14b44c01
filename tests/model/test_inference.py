"""Weights loading: checksum verified, clear errors, device selection, one load per process."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.inference import (
    DEFAULT_WEIGHTS,
    ModelLoadError,
    get_model,
    load_model,
    resolve_device,
    save_weights,
    sidecar_path,
    undo_class_weights,
)
from pipeline.model import ModelConfig, UNet2D


@pytest.fixture
def tiny_weights(tmp_path: Path) -> Path:
    net = UNet2D(ModelConfig(widths=(4, 8)))
    path = tmp_path / "tiny.pt"
    save_weights(net, path, {"version": "test"})
    return path


def test_saved_weights_load_and_predict(tiny_weights: Path) -> None:
    model = load_model(tiny_weights, device="cpu")
    probs = model.predict(np.zeros((3, 30, 22), np.float32))
    assert probs.shape == (3, model.config.num_classes, 30, 22)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert model.version == "test"


def test_corrupt_weights_fail_with_a_message_naming_file_and_key(tiny_weights: Path) -> None:
    data = bytearray(tiny_weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    tiny_weights.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match=r"checksum mismatch.*tiny\.pt.*pipeline\.model"):
        load_model(tiny_weights, device="cpu")


def test_wrong_configured_checksum_is_refused(tiny_weights: Path) -> None:
    with pytest.raises(ModelLoadError, match="checksum mismatch"):
        load_model(tiny_weights, sha256="0" * 64, device="cpu")


def test_missing_weights_fail_clearly(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"not found.*pipeline\.model"):
        load_model(tmp_path / "absent.pt", device="cpu")


def test_weights_without_any_checksum_are_refused(tiny_weights: Path) -> None:
    sidecar_path(tiny_weights).unlink()
    with pytest.raises(ModelLoadError, match="no checksum"):
        load_model(tiny_weights, device="cpu")


def test_cuda_requested_without_gpu_is_a_clear_error() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(ModelLoadError, match="no CUDA GPU"):
        resolve_device("cuda:0")
    assert resolve_device("auto").type == "cpu"


def test_bundled_weights_verify_and_are_cached_per_process() -> None:
    assert DEFAULT_WEIGHTS.is_file(), "the bundled weights must be committed"
    assert DEFAULT_WEIGHTS.stat().st_size < 30 * 1024 * 1024
    first = get_model(device="cpu")
    assert get_model(device="cpu") is first


def test_training_class_weights_are_read_from_the_sidecar(tmp_path: Path) -> None:
    net = UNet2D(ModelConfig(widths=(4, 8)))
    n = net.config.num_classes
    weighted = save_weights(net, tmp_path / "w.pt", {"config": {"class_weights": [1.0] * (n - 1) + [3.0]}})
    assert load_model(tmp_path / weighted["file"], device="cpu").class_weights == (1.0,) * (n - 1) + (3.0,)
    # A stage trained without weights, or a list that does not fit the head, leaves probabilities as they are.
    save_weights(net, tmp_path / "u.pt", {"config": {"class_weights": None}})
    assert load_model(tmp_path / "u.pt", device="cpu").class_weights is None
    save_weights(net, tmp_path / "x.pt", {"config": {"class_weights": [1.0, 2.0]}})
    assert load_model(tmp_path / "x.pt", device="cpu").class_weights is None


def test_undoing_class_weights_moves_the_boundary_to_equal_odds() -> None:
    # A voxel the weighted network calls 60 % disc (weight 1.5) vs 40 % body (weight 1) is even odds unweighted.
    probs = np.array([[[0.0]], [[0.4]], [[0.6]]], np.float32)[None]
    out = undo_class_weights(probs, (1.0, 1.0, 1.5))
    np.testing.assert_allclose(out[0, :, 0, 0], [0.0, 0.5, 0.5], atol=1e-6)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-6)
    assert undo_class_weights(probs, None) is probs
