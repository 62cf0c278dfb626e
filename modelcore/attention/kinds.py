"""Registry of per-layer attention kinds (`ModelConfig.layer_attention`).

Each kind other than "dense" lives in its own module, which defines:
- `Options`: a frozen dataclass of the kind's options; constructing it validates them (ValueError naming the
  bad option), unknown option names are a TypeError turned into ValueError here;
- `LayerKernel(config, layer_idx, options)`: an `nn.Module` whose
  `forward(q, k, v, mask, ctx: AttentionContext) -> (B, H, T, D)` replaces dense attention in that layer
  (shapes and mask as in modelcore.attention.dense). Learned parameters of a kind live in that module.
Modules are imported lazily, so `modelcore.config` can validate options without a cycle at import time.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

_KIND_MODULES = {
    "temporal_decay": "modelcore.attention.decay",
    "sparse": "modelcore.attention.sparse",
}


def _module(kind: str):
    try:
        name = _KIND_MODULES[kind]
    except KeyError:
        raise ValueError(f"attention kind {kind!r} has no kernel module; known: {', '.join(_KIND_MODULES)}") from None
    return importlib.import_module(name)


def parse_options(kind: str, options: dict[str, Any]) -> Any:
    """The kind's validated `Options` (None for "dense", which takes no options)."""
    if kind == "dense":
        if options:
            raise ValueError(f"attention kind 'dense' takes no options, got {sorted(options)}")
        return None
    cls = _module(kind).Options
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(f"attention kind {kind!r}: unknown option(s) {unknown}; known: {sorted(known)}")
    return cls(**options)


def build_kernel(config: Any, layer_idx: int):
    """The `LayerKernel` module of layer `layer_idx`, or None when that layer is plain dense."""
    spec = config.attention_for(layer_idx)
    if spec.kind == "dense":
        return None
    options = parse_options(spec.kind, spec.options_dict())
    return _module(spec.kind).LayerKernel(config, layer_idx, options)
