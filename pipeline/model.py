"""Stage 2: the segmentation network, a small 2-D U-Net applied to each sagittal slice.

Why 2-D: clinical sagittal series have 3-5 mm thick slices and 12-25 of them, so there is little to
gain across slices and a lot to lose in speed (the whole node must run on a 2-core CPU). Why instance
normalisation: the model is trained on randomised contrasts and must behave the same on scanners it
never saw; normalising each feature map per image removes the global contrast and brightness that
differ most between sites.

The network predicts semantic classes only (body, disc, canal, ...); which vertebra is which is
decided later along the spine curve (:mod:`pipeline.instances`, :mod:`pipeline.levels`), because a
classifier of levels from a 2-D patch cannot know how many vertebrae lie outside the field of view.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

#: Semantic classes predicted by the network (index = output channel). New classes are appended, so an
#: older weights file (fewer channels, listed in its sidecar) keeps every index it has.
CLASSES: tuple[str, ...] = ("background", "body", "disc", "canal", "cord", "sacrum", "c2", "posterior", "c1", "rib")
BACKGROUND, BODY, DISC, CANAL, CORD, SACRUM, C2, POSTERIOR, C1, RIB = range(len(CLASSES))
#: Classes of a network built without saying otherwise: every class but the rib, which only a network
#: trained on phantoms with ribs (``python -m pipeline.train --ribs``) has. Why not all of them: the
#: documented training commands must keep building the network they built.
DEFAULT_NUM_CLASSES = RIB


@dataclass(frozen=True)
class ModelConfig:
    """Architecture hyper-parameters, stored in the weights' sidecar so a file rebuilds its network."""

    in_channels: int = 1
    num_classes: int = DEFAULT_NUM_CLASSES
    widths: tuple[int, ...] = (16, 32, 64, 96, 128)
    spacing_mm: float = 1.25
    """In-plane pixel spacing of the working grid the network was trained on."""
    classes: tuple[str, ...] = field(default=CLASSES[:DEFAULT_NUM_CLASSES])

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        return cls(
            in_channels=int(data["in_channels"]),
            num_classes=int(data["num_classes"]),
            widths=tuple(int(w) for w in data["widths"]),
            spacing_mm=float(data["spacing_mm"]),
            classes=tuple(data.get("classes", CLASSES[: int(data["num_classes"])])),
        )


class _Block(nn.Sequential):
    """Two 3x3 convolutions with instance normalisation and leaky ReLU."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False),
            nn.InstanceNorm2d(cout, affine=True),
            nn.LeakyReLU(0.01, inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False),
            nn.InstanceNorm2d(cout, affine=True),
            nn.LeakyReLU(0.01, inplace=True),
        )


class UNet2D(nn.Module):
    """Plain U-Net: strided-conv downsampling, transposed-conv upsampling, additive-free skip concat."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        widths = config.widths
        self.encoders = nn.ModuleList()
        self.downs = nn.ModuleList()
        cin = config.in_channels
        for i, w in enumerate(widths):
            self.encoders.append(_Block(cin, w))
            if i < len(widths) - 1:
                self.downs.append(nn.MaxPool2d(2))
            cin = w
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for i in range(len(widths) - 1, 0, -1):
            self.ups.append(nn.ConvTranspose2d(widths[i], widths[i - 1], 2, stride=2))
            self.decoders.append(_Block(2 * widths[i - 1], widths[i - 1]))
        self.head = nn.Conv2d(widths[0], config.num_classes, 1)

    @property
    def divisor(self) -> int:
        """Input height and width must be multiples of this (the total downsampling factor)."""
        return 2 ** (len(self.config.widths) - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips: list[torch.Tensor] = []
        for i, encoder in enumerate(self.encoders):
            x = encoder(x)
            if i < len(self.downs):
                skips.append(x)
                x = self.downs[i](x)
        for up, decoder in zip(self.ups, self.decoders, strict=True):
            x = up(x)
            x = decoder(torch.cat([x, skips.pop()], dim=1))
        return self.head(x)


def pad_to_multiple(x: torch.Tensor, divisor: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad the last two axes up to a multiple of ``divisor`` (replicate), returning the original size."""
    h, w = x.shape[-2:]
    ph = (-h) % divisor
    pw = (-w) % divisor
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    return x, (h, w)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
