"""The rib classifier: does this vertebra carry a rib? One small CNN over both sides' parasagittal patches.

Why its own network (and not a class of the segmentation network): see :mod:`pipeline.rib_patches`. It
answers one question per vertebra, which is all :func:`pipeline.levels.name_vertebrae` needs, and it is
small enough (about 0.1 M parameters) to run on every vertebra of a whole-spine series in well under a
second on the CPU. The weights are optional: without the file the naming simply has no rib evidence,
exactly as before it existed.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from pipeline.inference import ModelLoadError, sha256_of, sidecar_path
from pipeline.rib_patches import CHANNELS, vertebra_patches

#: The rib classifier shipped with the package (optional).
DEFAULT_RIB_WEIGHTS = Path(__file__).with_name("weights") / "rib_net.pt"
#: A vertebra carries a rib at or above this probability and surely none at or below ``NO_RIB``; between
#: them the classifier cannot tell, and the naming treats it as unseen.
RIB = 0.8
NO_RIB = 0.2


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class RibNet(nn.Module):
    """Both sides' patches stacked as channels, (2 x CHANNELS, along, across) -> one logit."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.features = nn.Sequential(
            _block(2 * CHANNELS, width),
            nn.MaxPool2d(2),
            _block(width, 2 * width),
            nn.MaxPool2d(2),
            _block(2 * width, 2 * width),
        )
        self.head = nn.Linear(4 * width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.features(x)
        pooled = torch.cat([f.mean(dim=(2, 3)), f.amax(dim=(2, 3))], dim=1)
        return self.head(pooled).squeeze(1)


def stack_sides(patches: NDArray[np.float32]) -> NDArray[np.float32]:
    """``(n, 2, C, A, B)`` -> ``(n, 2C, A, B)``: left then right."""
    n, sides, c, a, b = patches.shape
    return patches.reshape(n, sides * c, a, b)


def both_sides_probability(network: RibNet, x: torch.Tensor) -> NDArray[np.float64]:
    """Rib probability with both side orders averaged (ribs come in pairs: mirroring must not matter)."""
    swapped = torch.cat([x[:, CHANNELS:], x[:, :CHANNELS]], dim=1)
    return torch.sigmoid(0.5 * (network(x) + network(swapped))).double().numpy()


@dataclass
class RibClassifier:
    """A loaded rib classifier with its provenance."""

    network: RibNet
    sha256: str
    version: str

    def probabilities(
        self, image: NDArray[np.float32], spacing: Sequence[float], centers_mm: Sequence[NDArray[np.float64]]
    ) -> NDArray[np.float64]:
        """Probability that each vertebra (centres on the working grid, head to feet) carries a rib."""
        if len(centers_mm) == 0:
            return np.zeros(0)
        x = torch.from_numpy(stack_sides(vertebra_patches(image, spacing, centers_mm)))
        with torch.inference_mode():
            return both_sides_probability(self.network, x)


def flags_from_probabilities(probs: Sequence[float], kinds: Sequence[str]) -> list[bool | None]:
    """True / False / None per vertebra candidate; only bodies are judged (not C1, C2 or the sacrum)."""
    out: list[bool | None] = []
    for p, kind in zip(probs, kinds, strict=True):
        if kind != "vertebra":
            out.append(None)
        elif p >= RIB:
            out.append(True)
        elif p <= NO_RIB:
            out.append(False)
        else:
            out.append(None)
    return out


def save_rib_weights(network: RibNet, path: Path, meta: dict[str, Any]) -> dict[str, Any]:
    """Write the state dict and a sidecar with its checksum and how it was made."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(network.state_dict(), path)
    meta = {**meta, "sha256": sha256_of(path)}
    sidecar_path(path).write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def load_rib_classifier(path: str | Path | None = None, sha256: str | None = None) -> RibClassifier | None:
    """The classifier at ``path`` (default: the bundled one), or None when no such file exists.

    A file that is there but does not match its checksum is an error, not a silent fallback: a corrupt
    classifier would rename vertebrae.
    """
    weights = Path(path) if path is not None else DEFAULT_RIB_WEIGHTS
    if not weights.exists():
        return None
    side = sidecar_path(weights)
    meta: dict[str, Any] = json.loads(side.read_text()) if side.exists() else {}
    expected = sha256 or meta.get("sha256")
    actual = sha256_of(weights)
    if expected is None or actual != expected:
        raise ModelLoadError(
            f"rib classifier {weights}: checksum {actual[:12]}... does not match {str(expected)[:12]}... "
            "(sidecar sha256); replace the file or remove it to run without rib evidence"
        )
    network = RibNet(int(meta.get("width", 32)))
    try:
        network.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    except (RuntimeError, ValueError) as exc:
        raise ModelLoadError(f"rib classifier {weights} cannot be loaded: {exc}") from exc
    network.eval()
    return RibClassifier(network, actual, str(meta.get("version", "dev")))


_CACHE: dict[str, RibClassifier | None] = {}
_LOCK = threading.Lock()


def get_rib_classifier(path: str | Path | None = None, sha256: str | None = None) -> RibClassifier | None:
    """The process-wide classifier for this file, loaded on first use (None when no file is shipped)."""
    key = f"{path or DEFAULT_RIB_WEIGHTS}|{sha256}"
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = load_rib_classifier(path, sha256)
        return _CACHE[key]
