"""Block summaries of a sparse layer cached across decode steps in `kv_cache.aux`.

State per layer under `aux[("sparse", layer)]`: `summ` (rows, Hkv, n_cap, C, D) float32 summaries indexed by
cache row, and `done` (list per cache row): blocks 0 .. done-1 of that row are summarised and still valid.
The caches clear `aux` when rows are added, removed, reset or truncated; a forward that writes a row at
positions p.. (e.g. a rewind without truncate) invalidates that row's blocks from p // block_size on.
A block is summarised once all its slots are written (slots <= the row's last query position).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .sparse_select import Options, pool_blocks


def _key(layer: int) -> tuple[str, int]:
    return ("sparse", layer)


def invalidate_summaries(cache, layer: int, q_pos: Tensor, options: Options) -> None:
    """Forget summaries of blocks this forward may rewrite. q_pos (B, T) positions of the forward's rows."""
    state = getattr(cache, "aux", {}).get(_key(layer))
    if state is None:
        return
    r0, _ = cache.forward_rows
    first = (q_pos.min(dim=1).values // options.block_size).tolist()  # (B,) first touched block per row
    done = state["done"]
    for i, blk in enumerate(first):
        if r0 + i < len(done):
            done[r0 + i] = min(done[r0 + i], int(blk))


def cached_summaries(cache, layer: int, k: Tensor, q_pos: Tensor, options: Options) -> Tensor:
    """(B, Hkv, n, C, D) summaries of the forward's rows, covering each row's complete blocks (extended
    incrementally; call `invalidate_summaries` first in every forward through the cache)."""
    b, hkv, s, d = k.shape
    bs = options.block_size
    c = 1 if options.score == "mean" else 2
    r0, r1 = cache.forward_rows
    need = ((q_pos.max(dim=1).values + 1) // bs).clamp(max=s // bs).tolist()  # complete blocks per row
    n_max = max(1, max(int(n) for n in need))
    aux = cache.aux
    state = aux.get(_key(layer))
    summ = None if state is None else state["summ"]
    if summ is None or summ.shape[0] < r1 or summ.shape[1:2] != (hkv,) or summ.shape[3:] != (c, d) \
            or summ.device != k.device:
        rows = max(r1, 0 if summ is None else summ.shape[0])
        summ = torch.zeros(rows, hkv, max(n_max, 16), c, d, dtype=torch.float32, device=k.device)
        state = {"summ": summ, "done": [0] * rows}
        aux[_key(layer)] = state
    if summ.shape[2] < n_max:  # grow the block axis (doubling)
        grown = torch.zeros(summ.shape[0], hkv, max(n_max, 2 * summ.shape[2]), c, d, dtype=summ.dtype,
                            device=summ.device)
        grown[:, :, : summ.shape[2]] = summ
        summ = state["summ"] = grown
    done = state["done"]
    for i in range(b):
        row, n = r0 + i, int(need[i])
        if done[row] < n:
            j0 = done[row]
            blocks = k[i, :, j0 * bs : n * bs].reshape(hkv, n - j0, bs, d)
            summ[row, :, j0:n] = pool_blocks(blocks, options.score)
            done[row] = n
    return summ[r0:r1, :, :n_max]
