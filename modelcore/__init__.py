"""Plumbline model core: a LLaMA-architecture decoder, its config, caches and checkpoints.

Importing this package has no side effects (no global flags, no device choice, no compilation).
"""

from .checkpoint import CheckpointError, load_model, save_model
from .config import ModelConfig, RopeScaling
from .kv_cache import DenseKVCache, KVCache
from .model import Transformer

__all__ = [
    "CheckpointError",
    "DenseKVCache",
    "KVCache",
    "ModelConfig",
    "RopeScaling",
    "Transformer",
    "load_model",
    "save_model",
]
