"""The one modelcore Engine of a worker process, shared by the worker's threads.

Apps reach modelcore only through this package. The engine is built on first use (not at import),
so the web process never loads the model.
"""
from __future__ import annotations

import threading

from django.conf import settings


class _EngineHolder:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._engine = None

    def get(self):
        with self._lock:
            if self._engine is None:
                self._engine = self._build()
            return self._engine

    @staticmethod
    def _build():
        import torch

        import modelcore

        cache_dir = settings.PLUMBLINE_DATA_DIR
        model = modelcore.load_model(settings.PLUMBLINE_MODEL, dtype=torch.float32, cache_dir=cache_dir)
        model.eval()
        tokenizer = modelcore.load_tokenizer(settings.PLUMBLINE_MODEL, cache_dir=cache_dir)
        engine = modelcore.Engine(
            model,
            tokenizer,
            max_batch_size=settings.PLUMBLINE_ENGINE_MAX_BATCH,
            max_seq_len=settings.PLUMBLINE_ENGINE_MAX_SEQ_LEN,
            max_adapters=settings.PLUMBLINE_ENGINE_MAX_ADAPTERS,
        )
        engine.start()
        return engine


_holder = _EngineHolder()


def get_engine():
    """This process's engine (built and started on first call)."""
    return _holder.get()
