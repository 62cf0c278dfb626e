"""Prefix caching: the KV of prompt prefixes that requests share (a system prompt, a fact table repeated across a
report's sections and across drafts) is kept after the request that computed it, and a later request with the same
prefix copies it into its cache row instead of computing it again.

Blocks: a prompt is cut into blocks of `block_size` tokens; block i is identified by a chain hash over the adapter
(name and directory: an adapter changes every K and V), block i-1's hash and block i's token ids, so equal hashes
mean equal prefixes (each block also keeps its own tokens and its parent's hash, checked on every match, so a hash
collision cannot serve wrong KV). A block holds the K and V of its tokens for every layer: one tensor
(layers, 2, kv_heads, block_size, head_dim) on the cache's device, in its dtype. Only whole blocks of the prompt
are kept, and a match always leaves at least one prompt token to compute (the first token is sampled from its
logits).

Memory: at most `max_bytes`; the least recently used blocks go first. A match touches every block of the chain
from the root, so a parent is never older than its children and eviction takes leaves first.

Exactness: K and V of a token depend only on the tokens before it, their positions (RoPE is applied before K is
stored) and the weights, so copied KV is the KV the request would have computed; the one difference is
floating-point rounding of a different chunking of the prefill, which the engine's chunked prefill has anyway.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

DEFAULT_BLOCK_SIZE = 16  # vLLM's block size; bench/prefix_cache.py: 16 reused more than 64 (507 vs 480 of ~640)


@dataclass
class _Block:
    parent: bytes  # the previous block's key (b"" for the first)
    tokens: tuple[int, ...]
    kv: Tensor  # (L, 2, Hkv, block_size, D)


@dataclass(frozen=True)
class PrefixCacheStats:
    blocks: int
    bytes: int
    max_bytes: int
    lookups: int  # requests that looked for a prefix
    hit_tokens: int  # prompt tokens served from the cache, all requests
    queried_tokens: int  # prompt tokens those requests could have been served (their length - 1)


class PrefixCache:
    def __init__(self, max_bytes: int, *, block_size: int = DEFAULT_BLOCK_SIZE) -> None:
        if max_bytes <= 0 or block_size <= 0:
            raise ValueError(f"PrefixCache: max_bytes={max_bytes}, block_size={block_size} must be positive")
        self.max_bytes = max_bytes
        self.block_size = block_size
        self._blocks: OrderedDict[bytes, _Block] = OrderedDict()  # least recently used first
        self._bytes = 0
        self._lookups = 0
        self._hit_tokens = 0
        self._queried_tokens = 0

    # ------------------------------------------------------------------------------------------- keys
    @staticmethod
    def _root(adapter: tuple[str, str] | None) -> bytes:
        name, path = adapter if adapter is not None else ("", "")
        return hashlib.blake2b(f"{name}\0{path}".encode("utf-8", "surrogatepass"), digest_size=16).digest()

    def _keys(self, adapter: tuple[str, str] | None, token_ids: Sequence[int], n_blocks: int) -> list[bytes]:
        keys, key = [], self._root(adapter)
        for i in range(n_blocks):
            block = np.asarray(token_ids[i * self.block_size:(i + 1) * self.block_size], dtype=np.int64)
            key = hashlib.blake2b(key + block.tobytes(), digest_size=16).digest()
            keys.append(key)
        return keys

    # ---------------------------------------------------------------------------------------- queries
    def match(self, adapter: tuple[str, str] | None, token_ids: Sequence[int]) -> tuple[int, Tensor | None]:
        """(n, kv): the longest cached prefix of `token_ids` that leaves at least one token to compute, n tokens
        (a multiple of block_size) and their KV (L, 2, Hkv, n, D); (0, None) when nothing matches."""
        limit = (len(token_ids) - 1) // self.block_size
        self._lookups += 1
        self._queried_tokens += max(len(token_ids) - 1, 0)
        found: list[Tensor] = []
        parent = self._root(adapter)
        for i, key in enumerate(self._keys(adapter, token_ids, limit)):
            block = self._blocks.get(key)
            tokens = tuple(token_ids[i * self.block_size:(i + 1) * self.block_size])
            if block is None or block.parent != parent or block.tokens != tokens:
                break
            self._blocks.move_to_end(key)
            found.append(block.kv)
            parent = key
        if not found:
            return 0, None
        n = len(found) * self.block_size
        self._hit_tokens += n
        return n, torch.cat(found, dim=3)

    def insert(
        self, adapter: tuple[str, str] | None, token_ids: Sequence[int], upto: int, read: Callable[[int, int], Tensor]
    ) -> int:
        """Keep the whole blocks of `token_ids[:upto]` not kept yet; `read(start, end)` returns their KV
        (L, 2, Hkv, end - start, D) (a copy: the cache row it comes from is reused). Returns blocks added."""
        n_blocks = min(upto, len(token_ids)) // self.block_size
        added, parent = 0, self._root(adapter)
        for i, key in enumerate(self._keys(adapter, token_ids, n_blocks)):
            if key in self._blocks:
                self._blocks.move_to_end(key)
            else:
                start = i * self.block_size
                kv = read(start, start + self.block_size)
                size = kv.numel() * kv.element_size()
                if size > self.max_bytes:
                    break
                self._blocks[key] = _Block(parent, tuple(token_ids[start:start + self.block_size]), kv)
                self._bytes += size
                added += 1
                self._evict(keep=key)
            parent = key
        return added

    def _evict(self, keep: bytes) -> None:
        while self._bytes > self.max_bytes and self._blocks:
            key, block = next(iter(self._blocks.items()))
            if key == keep:
                break
            del self._blocks[key]
            self._bytes -= block.kv.numel() * block.kv.element_size()

    def clear(self) -> None:
        self._blocks.clear()
        self._bytes = 0

    def stats(self) -> PrefixCacheStats:
        return PrefixCacheStats(len(self._blocks), self._bytes, self.max_bytes, self._lookups, self._hit_tokens,
                                self._queried_tokens)
