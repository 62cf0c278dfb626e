"""The one modelcore Engine of a worker process, shared by the worker's threads.

Apps reach modelcore only through this package. The engine is built on first use (not at import),
so the web process never loads the model.
"""
from __future__ import annotations

import json
import threading

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def layer_attention_setting(raw: str, num_layers: int) -> list | None:
    """PLUMBLINE_LAYER_ATTENTION -> one spec per layer for `load_model(layer_attention=...)`, or None when
    unset. A list is taken as is; {"kind", "options", "layers"} puts that kind on the listed layers (others
    dense). Bad values raise ImproperlyConfigured naming the problem (the worker does not start on them)."""
    if not raw.strip():
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ImproperlyConfigured(f"PLUMBLINE_LAYER_ATTENTION is not JSON: {exc}") from None
    if isinstance(value, list):
        return value
    if not isinstance(value, dict) or set(value) - {"kind", "options", "layers"} or "layers" not in value:
        raise ImproperlyConfigured(
            'PLUMBLINE_LAYER_ATTENTION must be a list (one spec per layer) or {"kind", "options", "layers"}'
        )
    layers = value["layers"]
    if not isinstance(layers, list) or not all(isinstance(i, int) and 0 <= i < num_layers for i in layers):
        raise ImproperlyConfigured(
            f"PLUMBLINE_LAYER_ATTENTION: layers must be a list of layer indices in [0, {num_layers})"
        )
    spec = {"kind": value.get("kind", "dense"), "options": value.get("options") or {}}
    chosen = set(layers)
    return [spec if i in chosen else "dense" for i in range(num_layers)]


def quantize_setting(raw: str, group_size: int) -> tuple[str | None, int]:
    """PLUMBLINE_QUANTIZE / PLUMBLINE_QUANTIZE_GROUP_SIZE -> `load_model(quantize=..., group_size=...)`;
    ImproperlyConfigured naming the setting for a value outside the allow-list."""
    from modelcore.quant import GROUP_SIZES, QUANT_MODES

    mode = raw.strip() or None
    if mode is not None and mode not in QUANT_MODES:
        raise ImproperlyConfigured(f"PLUMBLINE_QUANTIZE={raw!r}: expected '' or one of {', '.join(QUANT_MODES)}")
    if mode == "int4" and group_size not in GROUP_SIZES:
        raise ImproperlyConfigured(
            f"PLUMBLINE_QUANTIZE_GROUP_SIZE={group_size}: expected one of {', '.join(map(str, GROUP_SIZES))}"
        )
    return mode, group_size


def device_setting(device: str, dtype: str):
    """PLUMBLINE_DEVICE / PLUMBLINE_DTYPE -> (torch.device, torch.dtype) for `load_model(device=..., dtype=...)`
    (modelcore.device: "auto" = the first GPU if there is one, else the CPU; bfloat16 on CUDA, float32 on CPU);
    ImproperlyConfigured naming the setting for a value outside the allow-list or a GPU this host lacks."""
    from modelcore.device import resolve_device, resolve_dtype

    try:
        resolved = resolve_device(device)
    except ValueError as exc:
        raise ImproperlyConfigured(f"PLUMBLINE_DEVICE: {exc}") from None
    try:
        return resolved, resolve_dtype(dtype, resolved)
    except ValueError as exc:
        raise ImproperlyConfigured(f"PLUMBLINE_DTYPE: {exc}") from None


def _num_layers(model: str) -> int:
    """Decoder layers of PLUMBLINE_MODEL (a checkpoint directory or a preset name), from its config only."""
    from pathlib import Path

    from modelcore.checkpoint import read_config
    from modelcore.config import ModelConfig

    path = Path(model).expanduser()
    return (read_config(path) if path.is_dir() else ModelConfig.from_name(model)).num_hidden_layers


class _EngineHolder:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._engine = None

    def get(self):
        with self._lock:
            if self._engine is None:
                self._engine = self._build()
            return self._engine

    def built(self):
        """The engine if this process built one, else None (never builds it)."""
        return self._engine

    @staticmethod
    def _build():
        import torch

        import modelcore

        if settings.PLUMBLINE_ENGINE_THREADS > 0:  # pinned once, before the model runs (see the setting)
            torch.set_num_threads(settings.PLUMBLINE_ENGINE_THREADS)
        cache_dir = settings.PLUMBLINE_DATA_DIR
        layer_attention = None
        if settings.PLUMBLINE_LAYER_ATTENTION.strip():
            n_layers = _num_layers(settings.PLUMBLINE_MODEL)
            layer_attention = layer_attention_setting(settings.PLUMBLINE_LAYER_ATTENTION, n_layers)
        quantize, group_size = quantize_setting(settings.PLUMBLINE_QUANTIZE, settings.PLUMBLINE_QUANTIZE_GROUP_SIZE)
        device, dtype = device_setting(settings.PLUMBLINE_DEVICE, settings.PLUMBLINE_DTYPE)
        try:
            model = modelcore.load_model(
                settings.PLUMBLINE_MODEL, dtype=dtype, device=device, cache_dir=cache_dir,
                layer_attention=layer_attention, quantize=quantize, group_size=group_size,
            )
        except ValueError as exc:  # a spec modelcore refuses (unknown kind or option, wrong layer count)
            if layer_attention is None:
                raise
            raise ImproperlyConfigured(f"PLUMBLINE_LAYER_ATTENTION: {exc}") from exc
        model.eval()
        tokenizer = modelcore.load_tokenizer(settings.PLUMBLINE_MODEL, cache_dir=cache_dir)
        engine = modelcore.Engine(
            model,
            tokenizer,
            max_batch_size=settings.PLUMBLINE_ENGINE_MAX_BATCH,
            max_seq_len=settings.PLUMBLINE_ENGINE_MAX_SEQ_LEN,
            max_adapters=settings.PLUMBLINE_ENGINE_MAX_ADAPTERS,
            prefix_cache_bytes=settings.PLUMBLINE_PREFIX_CACHE_MB << 20,
        )
        engine.start()
        return engine


_holder = _EngineHolder()


def get_engine():
    """This process's engine (built and started on first call)."""
    return _holder.get()


def engine_stats():
    """modelcore.engine.EngineStats of this process's engine now, or None when the process has not built one (the
    web process, a cpu worker, a gpu worker before its first job). For the metrics collector: never loads the
    model and never waits for an engine step."""
    engine = _holder.built()
    return None if engine is None else engine.stats()


def engine_metric_families() -> list:
    """Prometheus metric families of this process's engine (modelcore.metrics), [] when it has built none; like
    `engine_stats`, never loads the model (nor torch, in a process without an engine)."""
    stats = engine_stats()
    if stats is None:
        return []
    from modelcore.metrics import engine_metric_families as families

    return list(families(stats))


def stop_engine() -> None:
    """Stop this process's engine thread if it built one (scripts, before the interpreter exits)."""
    engine = _holder.built()
    if engine is not None:
        engine.stop()
