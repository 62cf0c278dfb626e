"""KV caches implementing the protocol in modelcore/README.md.

`DenseKVCache` is the simple one (tests, single-process generation): one preallocated buffer per layer,
(B, n_kv_heads, max_len, head_dim), where **slot == absolute position** of the token in its row. Rows are
independent and may hold different lengths.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

from .config import ModelConfig


@runtime_checkable
class KVCache(Protocol):
    def update(self, layer: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        """k, v: (B, n_kv_heads, T, head_dim) of the new tokens (after RoPE). Stores them and returns
        (keys, values, mask): keys/values (B, n_kv_heads, S, head_dim); mask bool (B, 1, T, S),
        True = may attend, or None when plain causal attention over S == T is right."""
        ...


class DenseKVCache:
    """Per-row dense KV cache; slot index == absolute token position.

    Usage per forward::

        cache.begin(positions)                     # (B, T) absolute positions of the tokens to be fed
        logits = model(input_ids, positions, kv_cache=cache)
        cache.advance(n_new)                       # int or (B,) tokens per row that are real (not padding)

    - `begin(positions)` tells the cache where the next forward's tokens go: token (b, t) is written at slot
      `positions[b, t]` and may attend to slots `0 .. positions[b, t]` of row b (causal by position). All
      slots below a token's position must hold that row's earlier tokens (written before or in this call).
      The mask is built once here and shared by all layers.
    - Rows of different lengths in one forward: right-pad the shorter rows with tokens at the following
      positions (e.g. `lengths[b] + arange(T)`); the real tokens never see the padding (it sits at later
      positions), the padding's logits are to be ignored, and later tokens overwrite its slots. Positions
      of one row must be distinct and < `max_len`.
    - `advance(n_new)` records how many of the fed tokens per row are kept: `lengths += n_new`.
      `next_positions(T)` returns `lengths[:, None] + arange(T)`, the natural positions for the next call.
      Writing at positions below `lengths` (rewinding) is allowed; call `truncate(b, n)` / `reset()` to
      make `lengths` say so.
    - `update(layer, k, v)` (the protocol) writes and returns keys/values sliced to S = max position + 1
      and the (B, 1, T, S) mask, or mask None when this is a fresh causal prefill (positions == arange(T)
      in every row) so SDPA can take its causal fast path.
    """

    def __init__(
        self,
        config: ModelConfig,
        batch_size: int,
        max_len: int,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
    ) -> None:
        if batch_size <= 0 or max_len <= 0:
            raise ValueError(f"DenseKVCache: batch_size={batch_size} and max_len={max_len} must be positive")
        self.config = config
        self.batch_size = batch_size
        self.max_len = max_len
        shape = (batch_size, config.num_key_value_heads, max_len, config.head_dim)  # (B, Hkv, max_len, D)
        self.k = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(config.num_hidden_layers)]
        self.v = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(config.num_hidden_layers)]
        self.lengths = torch.zeros(batch_size, dtype=torch.long, device=device)  # (B,)
        self.times: Tensor | None = None  # (B, max_len) float time stamp per slot, once begin() is given times
        # Per-sequence state of attention kernels (e.g. a sparse layer's block summaries); cleared whenever
        # rows are rewound or reset, so kernels must treat it as a cache they can rebuild.
        self.aux: dict = {}
        self._positions: Tensor | None = None
        self._mask: Tensor | None = None
        self._span = 0

    @property
    def device(self) -> torch.device:
        return self.lengths.device

    def reset(self) -> None:
        """Forget every row (buffers are left as they are; they are overwritten before being read)."""
        self.lengths.zero_()
        self._positions = None
        self.aux.clear()

    def truncate(self, row: int, length: int) -> None:
        """Set row `row` back to `length` tokens."""
        if not 0 <= length <= self.max_len:
            raise ValueError(f"DenseKVCache.truncate: length={length} outside [0, {self.max_len}]")
        self.lengths[row] = length
        self.aux.clear()

    def next_positions(self, num_tokens: int) -> Tensor:
        """(B, num_tokens) positions continuing each row: lengths[b] + 0 .. num_tokens-1."""
        return self.lengths[:, None] + torch.arange(num_tokens, device=self.device)[None, :]

    def begin(self, positions: Tensor, times: Tensor | None = None) -> None:
        """Declare the absolute positions (B, T) of the tokens the next forward feeds, and optionally their
        time stamps (B, T) float (kept per slot for attention kinds that weigh by elapsed time)."""
        if positions.dim() != 2 or positions.shape[0] != self.batch_size:
            raise ValueError(
                f"DenseKVCache.begin: positions must be ({self.batch_size}, T), got {tuple(positions.shape)}"
            )
        positions = positions.to(device=self.device, dtype=torch.long)
        lo, hi = int(positions.min()), int(positions.max())
        if lo < 0 or hi >= self.max_len:
            raise ValueError(
                f"DenseKVCache.begin: positions span [{lo}, {hi}], must lie in [0, {self.max_len})"
            )
        t = positions.shape[1]
        span = hi + 1  # S: slots 0 .. hi are attended over
        fresh = span == t and bool((positions == torch.arange(t, device=self.device)[None, :]).all())
        slots = torch.arange(span, device=self.device)  # (S,)
        # (B, 1, T, S): token (b, t) sees slots up to its own position
        self._mask = None if fresh else (slots[None, None, :] <= positions[:, :, None])[:, None, :, :]
        if times is not None:
            if times.shape != positions.shape:
                raise ValueError(
                    f"DenseKVCache.begin: times {tuple(times.shape)} must match positions {tuple(positions.shape)}"
                )
            if self.times is None:
                self.times = torch.zeros(self.batch_size, self.max_len, dtype=torch.float32, device=self.device)
            rows = torch.arange(self.batch_size, device=self.device)[:, None].expand_as(positions)  # (B, T)
            self.times[rows, positions] = times.to(device=self.device, dtype=torch.float32)
        self._positions = positions
        self._span = span

    @property
    def forward_rows(self) -> tuple[int, int]:
        """[r0, r1): cache rows of the current forward's batch rows (always every row here)."""
        return (0, self.batch_size)

    def key_times(self, span: int) -> Tensor:
        """(B, span) time stamps of slots 0 .. span-1 (as given to begin())."""
        if self.times is None:
            raise ValueError("DenseKVCache.key_times: no time stamps were given to begin()")
        return self.times[:, :span]

    def update(self, layer: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        if self._positions is None:
            raise RuntimeError("DenseKVCache.update called without begin(positions) first")
        if k.shape[2] != self._positions.shape[1]:
            raise ValueError(
                f"DenseKVCache.update: got {k.shape[2]} tokens, begin() declared {self._positions.shape[1]}"
            )
        rows = torch.arange(self.batch_size, device=self.device)[:, None].expand_as(self._positions)  # (B, T)
        # Advanced indices (rows, positions) around a slice put (B, T) first: target is (B, T, Hkv, D).
        self.k[layer][rows, :, self._positions] = k.transpose(1, 2).to(self.k[layer].dtype)  # (B, T, Hkv, D)
        self.v[layer][rows, :, self._positions] = v.transpose(1, 2).to(self.v[layer].dtype)
        keys = self.k[layer][:, :, : self._span]  # (B, Hkv, S, D)
        values = self.v[layer][:, :, : self._span]  # (B, Hkv, S, D)
        return keys, values, self._mask

    def advance(self, num_new: int | Tensor) -> None:
        """Count `num_new` (int or (B,) tensor) of the tokens just fed as kept in each row."""
        self.lengths += torch.as_tensor(num_new, dtype=torch.long, device=self.device)
        self._positions = None
        self._mask = None
