"""VisionConfig / CrossModalConfig validation: bad values raise ValueError naming the field."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from modelcore import ModelConfig, Transformer
from modelcore.vision import CrossModalConfig, VisionConfig, VisionLanguageModel


def test_defaults_and_derived_values():
    v = VisionConfig(image_size=32, patch_size=8, hidden_size=64, num_heads=4)
    assert (v.grid_size, v.num_patches, v.head_dim) == (4, 16, 16)
    c = CrossModalConfig(layers=[0, 1], num_heads=4, attn_dim=32)
    assert c.layers == (0, 1) and c.head_dim == 8
    with pytest.raises(dataclasses.FrozenInstanceError):
        v.image_size = 64  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        (dict(image_size=0), "image_size"),
        (dict(patch_size=-1), "patch_size"),
        (dict(channels=1.5), "channels"),
        (dict(hidden_size=True), "hidden_size"),
        (dict(num_layers=0), "num_layers"),
        (dict(num_heads=0), "num_heads"),
        (dict(image_size=30, patch_size=8), "image_size"),
        (dict(hidden_size=66, num_heads=4), "hidden_size"),
        (dict(mlp_ratio=0), "mlp_ratio"),
        (dict(layer_norm_eps="x"), "layer_norm_eps"),
        (dict(dropout=1.0), "dropout"),
    ],
)
def test_bad_vision_config_names_field(kwargs, field):
    with pytest.raises(ValueError, match=rf"VisionConfig: {field}="):
        VisionConfig(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        (dict(layers=()), "layers"),
        (dict(layers=(1, 0)), "layers"),
        (dict(layers=(0, 0)), "layers"),
        (dict(layers=(-1,)), "layers"),
        (dict(layers="0"), "layers"),
        (dict(num_heads=0), "num_heads"),
        (dict(attn_dim=0), "attn_dim"),
        (dict(attn_dim=30, num_heads=4), "attn_dim"),
        (dict(gate="vector"), "gate"),
        (dict(layer_norm_eps=0.0), "layer_norm_eps"),
    ],
)
def test_bad_cross_config_names_field(kwargs, field):
    with pytest.raises(ValueError, match=rf"CrossModalConfig: {field}="):
        CrossModalConfig(**kwargs)


def test_cross_layers_checked_against_text_model():
    text = Transformer(ModelConfig.from_name("tiny"))  # 2 layers
    with pytest.raises(ValueError, match=r"CrossModalConfig: layers=\(0, 2\) names \[2\]"):
        VisionLanguageModel(text, VisionConfig(), CrossModalConfig(layers=(0, 2)))


def test_bad_attn_impl_rejected():
    from modelcore.vision import VisionEncoder

    with pytest.raises(ValueError, match="unknown attn_impl"):
        VisionEncoder(VisionConfig(), attn_impl="nope")
    assert VisionEncoder(VisionConfig())(torch.zeros(2, 1, 32, 32)).shape == (2, 16, 64)
