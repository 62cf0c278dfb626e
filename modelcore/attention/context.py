"""What a per-layer attention kernel may know besides q, k, v and the mask.

The model builds one `AttentionContext` per forward and hands it to every layer whose attention is not plain
dense (see modelcore.attention.kinds). Positions are absolute token positions; with a KV cache, slot s of the
returned keys holds the token at absolute position s (both caches keep slot == position), so
`key_positions` is 0 .. S-1 in every row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import Tensor


@dataclass(frozen=True)
class AttentionContext:
    """positions (B, T) long: absolute positions of the queries.
    key_positions (B, S) long: absolute positions of the keys attended over.
    times / key_times (B, T) / (B, S) float or None: real time stamps of queries and keys (e.g. days of an
        encounter's history events), for kernels that weigh by elapsed time rather than token distance.
    kv_cache: the cache of this forward or None; kernels that keep per-sequence state for decoding (block
        summaries of a sparse layer) store it in `kv_cache.aux`, a dict the caches provide.
    impl: the model's attention implementation name; "eager" asks every kernel for its reference path,
        anything else for its fast path.
    """

    positions: Tensor
    key_positions: Tensor
    times: Tensor | None = None
    key_times: Tensor | None = None
    kv_cache: Any = None
    impl: str = "sdpa"

    @property
    def reference(self) -> bool:
        return self.impl == "eager"
