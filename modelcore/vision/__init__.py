"""Vision for modelcore: a ViT-style encoder, dual-stream cross-attention blocks and a wrapper that adds them
to a text `Transformer` (`VisionLanguageModel`), plus generated chart data for proving the wiring learns."""

from .config import CrossModalConfig, VisionConfig
from .cross import (
    CROSS_IMPLS,
    CrossAttention,
    DualCrossBlock,
    eager_cross_attention,
    normalize_image_mask,
    sdpa_cross_attention,
)
from .encoder import VisionEncoder
from .model import ImageState, VisionLanguageModel, greedy_generate

__all__ = [
    "CROSS_IMPLS",
    "CrossAttention",
    "CrossModalConfig",
    "DualCrossBlock",
    "ImageState",
    "VisionConfig",
    "VisionEncoder",
    "VisionLanguageModel",
    "eager_cross_attention",
    "greedy_generate",
    "normalize_image_mask",
    "sdpa_cross_attention",
]
