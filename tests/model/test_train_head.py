"""Fine-tuning across a change of classes: an older network's weights given the head of a wider one."""

from __future__ import annotations

import torch

from pipeline.model import C1, C2, CLASSES, DEFAULT_NUM_CLASSES, POSTERIOR, RIB, ModelConfig, UNet2D
from pipeline.train import NEW_CLASS_OFFSET, widen_head


def test_an_older_head_is_widened_and_keeps_every_class_it_had() -> None:
    old = UNet2D(ModelConfig(widths=(4, 8), num_classes=C1, classes=CLASSES[:C1])).state_dict()
    new = widen_head(old, DEFAULT_NUM_CLASSES)
    net = UNet2D(ModelConfig(widths=(4, 8)))
    net.load_state_dict(new)  # fails on a shape mismatch
    assert torch.equal(new["head.weight"][:C1], old["head.weight"])
    assert torch.equal(new["head.weight"][C1], old["head.weight"][C2])
    assert torch.allclose(new["head.bias"][C1], old["head.bias"][C2] - NEW_CLASS_OFFSET)


def test_an_older_sidecar_without_class_names_lists_only_its_own_classes() -> None:
    config = ModelConfig.from_dict({"in_channels": 1, "num_classes": 8, "widths": [4, 8], "spacing_mm": 1.25})
    assert config.classes == CLASSES[:8]


def test_the_rib_class_is_added_to_a_nine_class_network_from_the_posterior_elements() -> None:
    old = UNet2D(ModelConfig(widths=(4, 8))).state_dict()
    assert old["head.weight"].shape[0] == DEFAULT_NUM_CLASSES == RIB  # the documented commands' network
    new = widen_head(old, len(CLASSES))
    net = UNet2D(ModelConfig(widths=(4, 8), num_classes=len(CLASSES), classes=CLASSES))
    net.load_state_dict(new)
    assert torch.equal(new["head.weight"][RIB], old["head.weight"][POSTERIOR])
    assert torch.allclose(new["head.bias"][RIB], old["head.bias"][POSTERIOR] - NEW_CLASS_OFFSET)
