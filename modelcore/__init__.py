"""Plumbline model core: a LLaMA-architecture decoder, its config, caches and checkpoints.

Importing this package has no side effects (no global flags, no device choice, no compilation).
"""

from .checkpoint import CheckpointError, load_model, save_model
from .config import ModelConfig, RopeScaling
from .kv_cache import DenseKVCache, KVCache
from .model import Transformer
from .tokenizer import Tokenizer, load_tokenizer

__all__ = [
    "CheckpointError",
    "DenseKVCache",
    "KVCache",
    "ModelConfig",
    "RopeScaling",
    "Tokenizer",
    "Transformer",
    "load_model",
    "load_tokenizer",
    "save_model",
]
