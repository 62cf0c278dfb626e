"""The engine's KV cache: one row per running request, rows of different lengths, storage that grows and
shrinks with what is held.

Layout: per layer one K and one V buffer of shape (row_capacity, n_kv_heads, capacity, head_dim); row r,
slot s holds the token at absolute position s of the r-th live sequence. Live rows are always the prefix
0 .. num_rows-1 (removing a row moves the last row into the hole: one row copy at release time), so every
forward attends over plain views `buffer[r0:r1, :, :S]`; no step copies or gathers the cache.

Memory follows the tokens actually held: `capacity` grows in chunks as the longest live sequence grows
(a realloc + copy once per chunk, amortised), `row_capacity` doubles as rows are added; both shrink (with
hysteresis, so a request joining and leaving does not thrash) when requests leave, and everything is freed
when the last row goes. Fresh memory is zeroed: masked slots must hold finite values (SDPA turns a bool mask
into an additive -inf mask, and NaN + -inf is NaN).

Usage per forward (the engine does this; the model only calls `update`, see modelcore/README.md)::

    positions = cache.begin_prefill(row, T)    # (1, T): this row's next T tokens, rows [row, row+1)
    positions = cache.begin_decode()           # (num_rows, 1): one token for every live row
    h = model.model(input_ids, positions, kv_cache=cache)
    cache.commit()                             # prefill: row length += T
    cache.commit(keep)                         # decode: length += 1 for rows where keep[r] is True
"""

from __future__ import annotations

import torch
from torch import Tensor

from .config import ModelConfig


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


class BatchKVCache:
    def __init__(
        self,
        config: ModelConfig,
        max_rows: int,
        max_len: int,
        *,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
        chunk: int = 128,
    ) -> None:
        if max_rows <= 0 or max_len <= 0 or chunk <= 0:
            raise ValueError(f"BatchKVCache: max_rows={max_rows}, max_len={max_len}, chunk={chunk} must be positive")
        self.config = config
        self.max_rows = max_rows
        self.max_len = max_len
        self.chunk = chunk
        self.dtype = dtype
        self.device = torch.device(device)
        self.lengths: list[int] = []  # tokens held by each live row
        self._k: list[Tensor] = []
        self._v: list[Tensor] = []
        self._alloc(0, 0)
        # Set by begin_*(), read by update(), cleared by commit().
        self._rows: tuple[int, int] | None = None  # [r0, r1) rows of this forward
        self._span = 0  # S: slots 0 .. S-1 are attended over
        self._mask: Tensor | None = None
        self._decode_index: tuple[Tensor, Tensor] | None = None  # (rows, positions) for decode writes
        self._prefill_start = 0
        # Per-sequence state of attention kernels (a sparse layer's block summaries), indexed by cache row;
        # cleared whenever rows are added, removed or moved, so kernels must treat it as rebuildable.
        self.aux: dict = {}

    # --------------------------------------------------------------------------------------- inspection
    @property
    def num_rows(self) -> int:
        return len(self.lengths)

    @property
    def capacity(self) -> int:
        """Slots per row currently allocated."""
        return self._k[0].shape[2] if self._k else 0

    @property
    def row_capacity(self) -> int:
        return self._k[0].shape[0] if self._k else 0

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self._k + self._v)

    # ------------------------------------------------------------------------------------------ storage
    def _alloc(self, rows: int, capacity: int) -> None:
        """(Re)allocate every buffer as (rows, Hkv, capacity, D), keeping what live rows hold."""
        cfg = self.config
        shape = (rows, cfg.num_key_value_heads, capacity, cfg.head_dim)  # (R, Hkv, C, D)
        keep_rows = min(self.num_rows, rows)
        keep_len = min(max(self.lengths, default=0), capacity)
        new_k, new_v = [], []
        for layer in range(cfg.num_hidden_layers):
            k = torch.zeros(shape, dtype=self.dtype, device=self.device)
            v = torch.zeros(shape, dtype=self.dtype, device=self.device)
            if self._k and keep_rows and keep_len:
                k[:keep_rows, :, :keep_len] = self._k[layer][:keep_rows, :, :keep_len]
                v[:keep_rows, :, :keep_len] = self._v[layer][:keep_rows, :, :keep_len]
            new_k.append(k)
            new_v.append(v)
        self._k, self._v = new_k, new_v

    def _ensure(self, rows: int, length: int) -> None:
        """Grow so that `rows` rows of `length` slots fit."""
        if length > self.max_len:
            raise ValueError(f"BatchKVCache: {length} slots needed, max_len is {self.max_len}")
        row_cap, cap = self.row_capacity, self.capacity
        if rows > row_cap:
            row_cap = min(self.max_rows, max(1, 1 << (rows - 1).bit_length()))  # next power of two
        if length > cap:
            cap = min(self.max_len, _round_up(length, self.chunk))
        if (row_cap, cap) != (self.row_capacity, self.capacity):
            self._alloc(row_cap, cap)

    def _maybe_shrink(self) -> None:
        if not self.lengths:
            if self.capacity or self.row_capacity:
                self._alloc(0, 0)  # idle: hold nothing
            return
        row_cap, cap = self.row_capacity, self.capacity
        if self.num_rows <= row_cap // 4:
            row_cap //= 2
        target = min(self.max_len, _round_up(max(self.lengths) + 1, self.chunk) + self.chunk)
        if cap > target + self.chunk:  # at least two spare chunks: give all but one back
            cap = target
        if (row_cap, cap) != (self.row_capacity, self.capacity):
            self._alloc(row_cap, cap)

    # --------------------------------------------------------------------------------------------- rows
    def add_row(self) -> int:
        """A new empty row (index num_rows)."""
        if self.num_rows >= self.max_rows:
            raise RuntimeError(f"BatchKVCache: all {self.max_rows} rows are in use")
        self._ensure(self.num_rows + 1, self.capacity)
        self.lengths.append(0)
        self.aux.clear()
        return self.num_rows - 1

    def remove_row(self, row: int) -> int | None:
        """Free `row` at once. The last row moves into its place: returns that row's old index (the caller
        renumbers it to `row`), or None when `row` was the last one."""
        if not 0 <= row < self.num_rows:
            raise IndexError(f"BatchKVCache.remove_row: row {row} of {self.num_rows}")
        last = self.num_rows - 1
        moved = None
        if row != last:
            n = self.lengths[last]
            for k, v in zip(self._k, self._v, strict=True):
                k[row, :, :n] = k[last, :, :n]  # (Hkv, n, D)
                v[row, :, :n] = v[last, :, :n]
            self.lengths[row] = n
            moved = last
        self.lengths.pop()
        self.aux.clear()
        self._maybe_shrink()
        return moved

    def read_slots(self, row: int, start: int, end: int) -> Tensor:
        """A copy of the K and V that `row` holds at slots [start, end): (L, 2, Hkv, end - start, D)."""
        if not 0 <= start <= end <= self.lengths[row]:
            raise IndexError(f"BatchKVCache.read_slots: [{start}, {end}) of row {row} holding {self.lengths[row]}")
        return torch.stack([torch.stack((k[row, :, start:end], v[row, :, start:end]))
                            for k, v in zip(self._k, self._v, strict=True)])

    def write_prefix(self, row: int, kv: Tensor) -> None:
        """Fill the empty `row` with the K and V of its first n tokens, kv (L, 2, Hkv, n, D) (a prefix cache hit):
        the row then holds n tokens, as if they had been prefilled."""
        if self.lengths[row] != 0:
            raise ValueError(f"BatchKVCache.write_prefix: row {row} already holds {self.lengths[row]} tokens")
        n = kv.shape[3]
        self._ensure(self.num_rows, n)
        for layer, (k, v) in enumerate(zip(self._k, self._v, strict=True)):
            k[row, :, :n] = kv[layer, 0]
            v[row, :, :n] = kv[layer, 1]
        self.lengths[row] = n
        self.aux.clear()

    @property
    def forward_rows(self) -> tuple[int, int]:
        """[r0, r1): the cache rows the current forward's batch rows 0 .. B-1 are (set by begin_*())."""
        if self._rows is None:
            raise RuntimeError("BatchKVCache.forward_rows: no forward begun")
        return self._rows

    # ---------------------------------------------------------------------------------------- forwards
    def begin_prefill(self, row: int, num_tokens: int) -> Tensor:
        """Next forward feeds `num_tokens` tokens of row `row` (alone, rows [row, row+1)); returns their
        positions (1, T) = length .. length+T-1. A row's first chunk uses the causal fast path (mask None)."""
        start = self.lengths[row]
        span = start + num_tokens
        self._ensure(self.num_rows, span)
        positions = torch.arange(start, span, device=self.device)[None, :]  # (1, T)
        if start == 0:
            self._mask = None
        else:
            slots = torch.arange(span, device=self.device)  # (S,)
            self._mask = (slots[None, :] <= positions[0, :, None])[None, None]  # (1, 1, T, S)
        self._rows = (row, row + 1)
        self._span = span
        self._prefill_start = start
        self._decode_index = None
        return positions

    def begin_decode(self) -> Tensor:
        """Next forward feeds one token for every live row at its own length; returns positions (R, 1)."""
        if not self.lengths:
            raise RuntimeError("BatchKVCache.begin_decode: no rows")
        pos = torch.tensor(self.lengths, dtype=torch.long, device=self.device)  # (R,)
        span = max(self.lengths) + 1
        self._ensure(self.num_rows, span)
        slots = torch.arange(span, device=self.device)  # (S,)
        self._mask = (slots[None, :] <= pos[:, None])[:, None, None, :]  # (R, 1, 1, S)
        self._rows = (0, self.num_rows)
        self._span = span
        self._decode_index = (torch.arange(self.num_rows, device=self.device), pos)
        return pos[:, None]

    def update(self, layer: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        """The KVCache protocol: store k, v (B, Hkv, T, D) where begin_*() said; return views over the
        forward's rows (B, Hkv, S, D) and the mask (B, 1, T, S) or None."""
        if self._rows is None:
            raise RuntimeError("BatchKVCache.update called without begin_prefill / begin_decode first")
        r0, r1 = self._rows
        kb, vb = self._k[layer], self._v[layer]
        if self._decode_index is None:
            s0, s1 = self._prefill_start, self._span
            kb[r0, :, s0:s1] = k[0]  # (Hkv, T, D)
            vb[r0, :, s0:s1] = v[0]
        else:
            rows, pos = self._decode_index
            # Advanced indices around a slice put the indexed dim first: target is (R, Hkv, D).
            kb[rows, :, pos] = k[:, :, 0]
            vb[rows, :, pos] = v[:, :, 0]
        return kb[r0:r1, :, : self._span], vb[r0:r1, :, : self._span], self._mask

    def commit(self, keep: list[bool] | None = None) -> None:
        """Count the tokens of the last forward as held. Prefill: the row's length += T. Decode: length += 1
        for rows with keep[r] (default all); other rows' writes sit past their length and get overwritten."""
        if self._rows is None:
            raise RuntimeError("BatchKVCache.commit without a forward")
        r0, _ = self._rows
        if self._decode_index is None:
            self.lengths[r0] = self._span
        else:
            for r in range(self.num_rows):
                if keep is None or keep[r]:
                    self.lengths[r] += 1
        self.clear_forward()

    def clear_forward(self) -> None:
        """Forget the pending forward (after commit, or when it failed)."""
        self._rows = None
        self._mask = None
        self._decode_index = None
