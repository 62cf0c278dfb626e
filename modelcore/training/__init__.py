"""Training on top of modelcore: LoRA adapters with `peft` (`adapter.py`), the training precisions
(`precision.py`: fp32, bf16, fp16, fp8, fp8_emulated) and torchrun data parallelism (`distributed.py`), the
last two reusable by any training loop. Imports torch and peft lazily enough that `import modelcore` never
pulls this package in."""

from .adapter import Example, TrainOptions, read_jsonl, tokenize_rows, train_adapter
from .distributed import DistContext
from .precision import PRECISIONS, Precision

__all__ = [
    "PRECISIONS",
    "DistContext",
    "Example",
    "Precision",
    "TrainOptions",
    "read_jsonl",
    "tokenize_rows",
    "train_adapter",
]
