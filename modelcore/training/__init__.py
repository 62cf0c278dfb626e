"""Training on top of modelcore: LoRA adapters with `peft` (see `adapter.py`). Imports torch and peft lazily
enough that `import modelcore` never pulls this package in."""

from .adapter import Example, TrainOptions, read_jsonl, tokenize_rows, train_adapter

__all__ = ["Example", "TrainOptions", "read_jsonl", "tokenize_rows", "train_adapter"]
