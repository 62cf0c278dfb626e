"""Sampling: `SamplingParams` (validated once), logits processors applied to one row, seeded sampling.

Each request owns a `torch.Generator` seeded from its `seed`, and its row draws from that generator only, so
a request's sampled tokens depend on its own logits and seed only, not on whatever else shares the batch.
Processor order follows Hugging Face `generate`: grammar mask (see `structured.py`) -> repetition penalty ->
temperature -> top-k -> top-p -> sample (or argmax when temperature == 0).

Two implementations of the same maths: `sample_batch` processes a decode step's (R, V) logits on their device
(one argmax, per-row temperature / top-k / top-p as (R, 1) tensors, one softmax; only the draw itself runs per
row, because each row has its own generator) and returns the tokens as one tensor, so the engine syncs with
the host once per step; `sample_row` is the eager reference (one row, one host sync) and the test oracle.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

CONSTRAINTS = ("json_schema", "regex", "choices", "grammar")


@dataclass(frozen=True)
class SamplingParams:
    """How one request is decoded.

    temperature: 0 = greedy (top_p / top_k / seed then have no effect); top_p in (0, 1] (1 = off);
    top_k >= 0 (0 = off); repetition_penalty > 0 (1 = off; HF semantics over prompt + output tokens);
    seed: per-request generator seed (None = a fresh random one); max_tokens >= 1 generated tokens;
    stop: strings that end the request (the text is cut before them); json_schema / regex / choices / grammar (an
    xgrammar EBNF grammar whose start rule is `root`): at most one output constraint (see `structured.py`); ignore_eos: keep generating past EOS (benchmarks).
    """

    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    repetition_penalty: float = 1.0
    seed: int | None = None
    max_tokens: int = 256
    stop: tuple[str, ...] = ()
    json_schema: dict[str, Any] | None = None
    regex: str | None = None
    choices: tuple[str, ...] | None = None
    grammar: str | None = None
    ignore_eos: bool = False

    def __post_init__(self) -> None:
        # Accept lists / a single string for the tuple fields (frozen: object.__setattr__ in __post_init__).
        if isinstance(self.stop, str):
            object.__setattr__(self, "stop", (self.stop,))
        elif isinstance(self.stop, Iterable):
            object.__setattr__(self, "stop", tuple(self.stop))
        if self.choices is not None and not isinstance(self.choices, str) and isinstance(self.choices, Iterable):
            object.__setattr__(self, "choices", tuple(self.choices))
        for f in ("temperature", "top_p", "repetition_penalty"):
            v = getattr(self, f)
            if _is_int(v):
                object.__setattr__(self, f, float(v))
        self._validate()

    def _validate(self) -> None:
        bad: list[str] = []
        if not (isinstance(self.temperature, float) and math.isfinite(self.temperature) and self.temperature >= 0):
            bad.append(f"temperature={self.temperature!r} must be a finite number >= 0 (0 = greedy)")
        if not (isinstance(self.top_p, float) and 0 < self.top_p <= 1):
            bad.append(f"top_p={self.top_p!r} must be in (0, 1]")
        if not (_is_int(self.top_k) and self.top_k >= 0):
            bad.append(f"top_k={self.top_k!r} must be an integer >= 0 (0 = off)")
        if not (
            isinstance(self.repetition_penalty, float)
            and math.isfinite(self.repetition_penalty)
            and self.repetition_penalty > 0
        ):
            bad.append(f"repetition_penalty={self.repetition_penalty!r} must be a finite number > 0")
        if self.seed is not None and not _is_int(self.seed):
            bad.append(f"seed={self.seed!r} must be an integer or None")
        if not (_is_int(self.max_tokens) and self.max_tokens >= 1):
            bad.append(f"max_tokens={self.max_tokens!r} must be an integer >= 1")
        if not all(isinstance(s, str) and s for s in self.stop):
            bad.append(f"stop={self.stop!r} must be non-empty strings")
        if self.json_schema is not None and not isinstance(self.json_schema, dict):
            bad.append(f"json_schema must be a dict (a JSON schema) or None, got {type(self.json_schema).__name__}")
        if self.regex is not None and not (isinstance(self.regex, str) and self.regex):
            bad.append(f"regex={self.regex!r} must be a non-empty string or None")
        if self.choices is not None and not (
            isinstance(self.choices, tuple) and self.choices and all(isinstance(c, str) and c for c in self.choices)
        ):
            bad.append(f"choices={self.choices!r} must be a non-empty sequence of non-empty strings or None")
        if self.grammar is not None and not (isinstance(self.grammar, str) and self.grammar.strip()):
            bad.append("grammar must be a non-empty EBNF string or None")
        constraints = [f for f in CONSTRAINTS if getattr(self, f) is not None]
        if len(constraints) > 1:
            bad.append(f"at most one of {' / '.join(CONSTRAINTS)} may be set, got {', '.join(constraints)}")
        if not isinstance(self.ignore_eos, bool):
            bad.append(f"ignore_eos={self.ignore_eos!r} must be a bool")
        if bad:
            raise ValueError("SamplingParams: " + "; ".join(bad))

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    @property
    def constrained(self) -> bool:
        return any(getattr(self, f) is not None for f in CONSTRAINTS)

    @property
    def needs_row_processing(self) -> bool:
        """False when plain argmax over the raw logits is the whole job (the batched fast path)."""
        return not self.greedy or self.repetition_penalty != 1.0 or self.constrained


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def make_generator(seed: int | None, device: torch.device | str = "cpu") -> torch.Generator:
    """The request's own generator: `seed`, or a fresh random seed when None."""
    g = torch.Generator(device=device)
    g.manual_seed(secrets.randbits(63) if seed is None else seed)
    return g


# ------------------------------------------------------------------------------------- logits processors
# Each takes one row of float logits (V,) and returns the processed row (in place where it can).
def apply_repetition_penalty(logits: Tensor, seen: Tensor, penalty: float) -> Tensor:
    """HF semantics: for tokens already seen (bool mask (V,)), positive logits are divided by `penalty`,
    negative ones multiplied, so penalty > 1 always makes a repeat less likely."""
    if penalty == 1.0:
        return logits
    penalised = torch.where(logits > 0, logits / penalty, logits * penalty)
    return torch.where(seen, penalised, logits)


def apply_temperature(logits: Tensor, temperature: float) -> Tensor:
    if temperature == 1.0:
        return logits
    return logits.div_(temperature)


def apply_top_k(logits: Tensor, k: int) -> Tensor:
    """Keep the k largest logits (ties with the k-th are kept too)."""
    if k <= 0 or k >= logits.shape[-1]:
        return logits
    kth = torch.topk(logits, k).values[-1]
    return logits.masked_fill_(logits < kth, float("-inf"))


def apply_top_p(logits: Tensor, p: float) -> Tensor:
    """Nucleus: keep the smallest set of most likely tokens whose probability sums to >= p (at least one)."""
    if p >= 1.0:
        return logits
    sorted_logits, order = torch.sort(logits, descending=True)  # (V,)
    probs = torch.softmax(sorted_logits, dim=-1)
    mass_before = torch.cumsum(probs, dim=-1) - probs  # probability of the tokens ranked above each one
    drop = mass_before >= p  # the first token has mass_before 0 < p, so it always stays
    return logits.index_fill_(0, order[drop], float("-inf"))


def sample_row(
    logits: Tensor,
    params: SamplingParams,
    generator: torch.Generator | None,
    seen: Tensor | None = None,
) -> int:
    """One token id from one row of logits (V,) (float32, already grammar-masked if constrained).
    `seen`: bool (V,) of the tokens in prompt + output (only read when repetition_penalty != 1)."""
    if params.repetition_penalty != 1.0 and seen is not None:
        logits = apply_repetition_penalty(logits, seen, params.repetition_penalty)
    if params.greedy:
        return int(torch.argmax(logits))
    logits = apply_temperature(logits.clone(), params.temperature)
    logits = apply_top_k(logits, params.top_k)
    logits = apply_top_p(logits, params.top_p)
    probs = torch.softmax(logits, dim=-1)
    return int(torch.multinomial(probs, 1, generator=generator))



def sample_batch(
    logits: Tensor,
    params: Sequence[SamplingParams],
    generators: Sequence[torch.Generator | None],
    seen: Sequence[Tensor | None] | None = None,
) -> Tensor:
    """One token id per row of `logits` (R, V) float32 (already grammar-masked; left unchanged), as a
    (R,) long tensor on the logits' device: the same tokens `sample_row` picks row by row, without a host
    sync. `params[r]`, `generators[r]`, `seen[r]`: row r's request (seen: bool (V,), or None)."""
    rows = logits.shape[0]
    if not (len(params) == len(generators) == rows and (seen is None or len(seen) == rows)):
        raise ValueError(f"sample_batch: {rows} logit rows, {len(params)} params, {len(generators)} generators")
    penalised = [r for r, p in enumerate(params) if p.repetition_penalty != 1.0 and seen is not None
                 and seen[r] is not None]
    if penalised:  # rare (off by default): row by row, on the device, into a copy
        logits = logits.clone()
        for r in penalised:
            logits[r] = apply_repetition_penalty(logits[r], seen[r], params[r].repetition_penalty)  # type: ignore[index]
    tokens = logits.argmax(dim=-1)  # (R,) greedy rows keep this
    sampled = [r for r, p in enumerate(params) if not p.greedy]
    if not sampled:
        return tokens
    device = logits.device
    idx = torch.tensor(sampled, device=device)
    x = logits.index_select(0, idx)  # (S, V) the sampled rows
    temps = [params[r].temperature for r in sampled]
    if any(t != 1.0 for t in temps):
        x.div_(torch.tensor(temps, dtype=x.dtype, device=device)[:, None])  # (S, 1)
    ks = [params[r].top_k for r in sampled]
    vocab = x.shape[-1]
    if any(0 < k < vocab for k in ks):
        k_max = max(k for k in ks if k < vocab)
        top = torch.topk(x, k_max, dim=-1).values  # (S, k_max) descending
        k_col = torch.tensor([min(k, k_max) if 0 < k < vocab else 1 for k in ks], device=device)[:, None]
        kth = top.gather(1, k_col - 1)  # (S, 1) the k-th largest of each row
        off = torch.tensor([not (0 < k < vocab) for k in ks], device=device)[:, None]
        x.masked_fill_((x < kth) & ~off, float("-inf"))
    ps = [params[r].top_p for r in sampled]
    if any(p < 1.0 for p in ps):
        sorted_x, order = torch.sort(x, dim=-1, descending=True)  # (S, V)
        probs = torch.softmax(sorted_x, dim=-1)
        mass_before = torch.cumsum(probs, dim=-1) - probs
        p_col = torch.tensor(ps, dtype=probs.dtype, device=device)[:, None]  # (S, 1); 1.0 drops nothing
        drop = (mass_before >= p_col) & (p_col < 1.0)
        x.masked_fill_(torch.zeros_like(drop).scatter_(1, order, drop), float("-inf"))
    probs = torch.softmax(x, dim=-1)  # (S, V)
    # Each row draws from its own request's generator (seeded determinism, batch-independent).
    draws = torch.cat([torch.multinomial(probs[i], 1, generator=generators[r]) for i, r in enumerate(sampled)])
    return tokens.index_copy_(0, idx, draws)
