"""Vision configuration: the ViT-style encoder (`VisionConfig`) and the cross-modal blocks that join it to a
text decoder (`CrossModalConfig`). Both are frozen dataclasses validated once in `__post_init__`; a bad value
raises ValueError naming the field.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

GATE_KINDS = ("scalar", "channel")


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _positive_ints(owner: str, obj: Any, fields: tuple[str, ...]) -> None:
    for f in fields:
        v = getattr(obj, f)
        if not (_is_int(v) and v > 0):
            raise ValueError(f"{owner}: {f}={v!r} must be a positive integer")


@dataclass(frozen=True)
class VisionConfig:
    """ViT-style encoder: square `image_size` images of `channels` channels cut into `patch_size` patches,
    `num_layers` pre-norm bidirectional transformer blocks of width `hidden_size`.

    num_patches = (image_size // patch_size) ** 2; head_dim = hidden_size // num_heads.
    """

    image_size: int = 32
    patch_size: int = 8
    channels: int = 1
    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 4
    mlp_ratio: float = 4.0
    layer_norm_eps: float = 1e-5
    dropout: float = 0.0

    def __post_init__(self) -> None:
        _positive_ints(
            "VisionConfig",
            self,
            ("image_size", "patch_size", "channels", "hidden_size", "num_layers", "num_heads"),
        )
        if self.image_size % self.patch_size != 0:
            raise ValueError(
                f"VisionConfig: image_size={self.image_size} must be a multiple of patch_size={self.patch_size}"
            )
        if self.hidden_size % self.num_heads != 0:
            raise ValueError(
                f"VisionConfig: hidden_size={self.hidden_size} must be a multiple of num_heads={self.num_heads}"
            )
        if not (_is_number(self.mlp_ratio) and self.mlp_ratio > 0):
            raise ValueError(f"VisionConfig: mlp_ratio={self.mlp_ratio!r} must be a positive number")
        if not (_is_number(self.layer_norm_eps) and self.layer_norm_eps > 0):
            raise ValueError(
                f"VisionConfig: layer_norm_eps={self.layer_norm_eps!r} must be a positive number"
            )
        if not (_is_number(self.dropout) and 0.0 <= self.dropout < 1.0):
            raise ValueError(f"VisionConfig: dropout={self.dropout!r} must be a number in [0, 1)")

    @property
    def grid_size(self) -> int:
        """Patches per image side."""
        return self.image_size // self.patch_size

    @property
    def num_patches(self) -> int:
        return self.grid_size**2

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    @property
    def mlp_hidden(self) -> int:
        return max(1, int(round(self.hidden_size * self.mlp_ratio)))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class CrossModalConfig:
    """Where and how the dual-stream cross-attention blocks join the text decoder.

    layers: indices of the decoder layers after which a cross block runs (sorted, distinct, each in
        [0, num_hidden_layers) of the text model; checked against it by `check_text_layers`).
    num_heads: attention heads of both directions; attn_dim (common q/k/v width) must divide by it.
    gate: "scalar" (one learned gate per direction) or "channel" (one per output channel); all gates start
        at 0, so tanh(gate) = 0 and a freshly added block changes nothing.
    """

    layers: tuple[int, ...] = (0,)
    num_heads: int = 4
    attn_dim: int = 64
    gate: str = "scalar"
    layer_norm_eps: float = 1e-5

    def __post_init__(self) -> None:
        if isinstance(self.layers, list):
            object.__setattr__(self, "layers", tuple(self.layers))
        if not isinstance(self.layers, tuple) or not all(_is_int(i) and i >= 0 for i in self.layers):
            raise ValueError(f"CrossModalConfig: layers={self.layers!r} must be a tuple of non-negative ints")
        if len(self.layers) == 0:
            raise ValueError("CrossModalConfig: layers=() must name at least one decoder layer")
        if list(self.layers) != sorted(set(self.layers)):
            raise ValueError(f"CrossModalConfig: layers={self.layers!r} must be sorted and distinct")
        _positive_ints("CrossModalConfig", self, ("num_heads", "attn_dim"))
        if self.attn_dim % self.num_heads != 0:
            raise ValueError(
                f"CrossModalConfig: attn_dim={self.attn_dim} must be a multiple of num_heads={self.num_heads}"
            )
        if self.gate not in GATE_KINDS:
            raise ValueError(f"CrossModalConfig: gate={self.gate!r} must be one of {GATE_KINDS}")
        if not (_is_number(self.layer_norm_eps) and self.layer_norm_eps > 0):
            raise ValueError(
                f"CrossModalConfig: layer_norm_eps={self.layer_norm_eps!r} must be a positive number"
            )

    @property
    def head_dim(self) -> int:
        return self.attn_dim // self.num_heads

    def check_text_layers(self, num_hidden_layers: int) -> None:
        """Raise ValueError (naming `layers`) unless every index is a layer of a `num_hidden_layers` decoder."""
        bad = [i for i in self.layers if i >= num_hidden_layers]
        if bad:
            raise ValueError(
                f"CrossModalConfig: layers={self.layers!r} names {bad}, but the text model has only "
                f"{num_hidden_layers} layers"
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
