"""Long real text available offline, and perplexity of a causal LM over it (helpers of bench/attention.py).

The text is Python's own reference documentation as shipped in the standard library
(`pydoc_data.topics.topics`: ~465k characters of English prose and code, one entry per language topic),
the entries in sorted key order joined by blank lines, so every run and machine sees the same text for the
same Python minor version.
"""

from __future__ import annotations

import hashlib
import sys

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def reference_text() -> str:
    """Python's reference documentation topics, sorted by key, joined by blank lines."""
    import pydoc_data.topics

    topics = pydoc_data.topics.topics
    return "\n\n".join(topics[key].strip() for key in sorted(topics))


def describe_text(text: str) -> dict:
    """Where the text came from, its size and a digest (for the results JSON)."""
    return {
        "source": "Python standard library pydoc_data.topics.topics (the language reference's topic pages), "
        "entries in sorted key order joined by blank lines",
        "python": sys.version.split()[0],
        "characters": len(text),
        "sha256_16": hashlib.sha256(text.encode()).hexdigest()[:16],
    }


@torch.no_grad()
def token_nll(lm_head: nn.Module, hidden: Tensor, ids: Tensor, *, chunk: int = 1024) -> Tensor:
    """Negative log-likelihood of each next token, without materialising all logits at once.

    hidden (B, T, C): final-norm hidden states of `ids` (B, T); lm_head maps C -> V.
    Returns (B, T-1) float32: nll[b, t] = -log p(ids[b, t+1] | ids[b, :t+1]). Logits are computed
    `chunk` positions at a time ((B, chunk, V) float32 at most).
    """
    if hidden.dim() != 3 or ids.shape != hidden.shape[:2]:
        raise ValueError(f"token_nll: hidden {tuple(hidden.shape)} does not fit ids {tuple(ids.shape)}")
    if chunk <= 0:
        raise ValueError(f"token_nll: chunk={chunk} must be positive")
    b, t, _ = hidden.shape
    out = torch.empty(b, max(t - 1, 0), dtype=torch.float32)
    for s in range(0, t - 1, chunk):
        e = min(s + chunk, t - 1)
        logits = lm_head(hidden[:, s:e]).float()  # (B, e-s, V)
        targets = ids[:, s + 1 : e + 1]  # (B, e-s)
        out[:, s:e] = F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")
    return out


def perplexity(nll: Tensor, start: int = 0) -> float:
    """exp(mean nll) over predicted positions >= start (nll (B, T-1) as from token_nll; position t of nll
    predicts token t+1)."""
    part = nll[:, start:]
    if part.numel() == 0:
        raise ValueError(f"perplexity: no positions at or after {start} (nll {tuple(nll.shape)})")
    return float(torch.exp(part.double().mean()))
