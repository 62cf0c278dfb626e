"""Plumbline model core: a LLaMA-architecture decoder, its config, caches and checkpoints.

Importing this package has no side effects (no global flags, no device choice, no compilation).
"""

from .checkpoint import CheckpointError, load_model, save_model
from .config import ModelConfig, RopeScaling
from .engine import Completion, Engine, PromptTooLongError, RequestHandle
from .kv_cache import DenseKVCache, KVCache
from .model import Transformer
from .sampling import SamplingParams
from .tokenizer import Tokenizer, load_tokenizer

__all__ = [
    "CheckpointError",
    "Completion",
    "DenseKVCache",
    "Engine",
    "KVCache",
    "ModelConfig",
    "PromptTooLongError",
    "RequestHandle",
    "RopeScaling",
    "SamplingParams",
    "Tokenizer",
    "Transformer",
    "load_model",
    "load_tokenizer",
    "save_model",
]
