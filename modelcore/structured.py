"""Constrained decoding with xgrammar: JSON schema, regex or a list of choices -> a per-step token mask.

xgrammar runs on the CPU (its matcher and `apply_token_bitmask_inplace` have CPU implementations). Its
`TokenizerInfo` is built from our tokenizer's vocabulary (`tokenizer.json` via the `tokenizers` backend; no
transformers tokenizer needed): ids -> token strings, the vocabulary encoding read from the decoder
(ByteLevel -> BYTE_LEVEL, ByteFallback -> BYTE_FALLBACK, else RAW), the model's vocab size (the lm_head
width, which may exceed the tokenizer's) and the EOS ids as the grammar's stop tokens.

Per request: `Grammars.state(params)` -> `GrammarState`; per step: the batch's masks before sampling,
`state.accept(token)` after; `state.terminated` once the grammar accepted a stop token (the engine then ends
the request with finish_reason "stop"). Compiled grammars are cached by key.

Masks per step: `BatchBitmask.apply_` fills one (R, ceil(V / 32)) int32 bitmask, a row per constrained request
(xgrammar's `BatchGrammarMatcher`, which releases the GIL), and applies it to the batch's (R, V) logits in one
`apply_token_bitmask_inplace` on the logits' device (the bitmask is filled on the CPU, where xgrammar's
matchers write, and copied to the logits' device). `GrammarState.mask_` (one row) is the eager reference.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from .sampling import SamplingParams


class GrammarError(ValueError):
    """A schema / regex / choice list that cannot be compiled."""


def _vocab_type(backend: Any) -> Any:
    """xgrammar's VocabType for a `tokenizers.Tokenizer`, read from its decoder."""
    import xgrammar as xgr

    decoder = json.loads(backend.to_str()).get("decoder") or {}
    kinds: set[str] = set()

    def walk(d: Any) -> None:
        if isinstance(d, dict):
            if "type" in d:
                kinds.add(d["type"])
            for sub in d.get("decoders", []) or []:
                walk(sub)

    walk(decoder)
    if "ByteLevel" in kinds:
        return xgr.VocabType.BYTE_LEVEL
    if "ByteFallback" in kinds:
        return xgr.VocabType.BYTE_FALLBACK
    return xgr.VocabType.RAW


def tokenizer_info(tokenizer: Any, vocab_size: int) -> Any:
    """xgrammar `TokenizerInfo` for our `Tokenizer` and a model whose lm_head has `vocab_size` outputs."""
    import xgrammar as xgr

    backend = tokenizer.backend
    encoded: list[str] = [""] * vocab_size  # ids the tokenizer does not define stay "" (never allowed)
    for token, idx in backend.get_vocab(with_added_tokens=True).items():
        if idx < vocab_size:
            encoded[idx] = token
    stop_ids = sorted(i for i in tokenizer.eos_token_ids if i < vocab_size)
    if not stop_ids:
        raise GrammarError("constrained decoding needs an EOS token id (the grammar's stop token)")
    return xgr.TokenizerInfo(
        encoded, _vocab_type(backend), vocab_size=vocab_size, stop_token_ids=stop_ids, add_prefix_space=False
    )


def grammar_key(params: SamplingParams) -> tuple[str, str] | None:
    """Cache key of the constraint in `params` (None when unconstrained)."""
    if params.json_schema is not None:
        return ("json_schema", json.dumps(params.json_schema, sort_keys=True))
    if params.regex is not None:
        return ("regex", params.regex)
    if params.choices is not None:
        return ("choices", json.dumps(list(params.choices)))
    if params.grammar is not None:
        return ("grammar", params.grammar)
    return None


def regex_group_optional_bounded(pattern: str) -> str:
    """`pattern` with every optional group `(...)?` written `(...){0,1}` (the same language).

    Why: xgrammar (seen with 0.2.9) compiles a JSON-schema `pattern` in its JSON-string mode wrongly when an
    optional group ends in a variable repetition: `^[A-Z][0-9]{2}(\\.[0-9A-Z]{1,4})?$`, our ICD-10 code pattern,
    accepted "A1259" (the group's "." was dropped), so the model could write codes the pattern forbids. The
    same group written `{0,1}` compiles correctly (tests/modelcore/test_structured.py holds both cases).
    Escapes and character classes are left alone: only a `?` right after a group's closing parenthesis
    changes (a lazy `??` stays lazy: `{0,1}?`)."""
    out, i, in_class = [], 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
            if pattern[i + 1:i + 2] == "]":  # "[]...]": a leading "]" is a literal
                out.append("[]")
                i += 2
                continue
        elif ch == ")" and pattern[i + 1:i + 2] == "?":
            out.append("){0,1}")
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def schema_patterns_fixed(schema: Any) -> Any:
    """A copy of a JSON schema with `regex_group_optional_bounded` applied to every string `pattern`."""
    if isinstance(schema, dict):
        return {k: (regex_group_optional_bounded(v) if k == "pattern" and isinstance(v, str)
                    else schema_patterns_fixed(v)) for k, v in schema.items()}
    if isinstance(schema, list):
        return [schema_patterns_fixed(v) for v in schema]
    return schema


def choices_ebnf(choices: tuple[str, ...]) -> str:
    """`root ::= "a" | "b"`; JSON string escapes are what xgrammar's EBNF string literals read."""
    return "root ::= " + " | ".join(json.dumps(c, ensure_ascii=False) for c in choices)


class Grammars:
    """Compiles constraints for one (tokenizer, model vocab) pair; an LRU cache of compiled grammars.
    Thread-safe (submit threads compile, the engine thread builds matchers)."""

    def __init__(self, tokenizer: Any, vocab_size: int, *, max_threads: int = 2, cache_size: int = 64) -> None:
        import xgrammar as xgr

        self.vocab_size = vocab_size
        self.info = tokenizer_info(tokenizer, vocab_size)
        self._compiler = xgr.GrammarCompiler(self.info, max_threads=max_threads, cache_enabled=False)
        self._cache: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def compile(self, params: SamplingParams) -> Any | None:
        """The compiled grammar for `params` (cached), or None when unconstrained. Raises GrammarError."""
        key = grammar_key(params)
        if key is None:
            return None
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        try:
            if params.json_schema is not None:
                # Compact JSON (no free whitespace): a small model can otherwise loop on spaces / newlines.
                compiled = self._compiler.compile_json_schema(schema_patterns_fixed(params.json_schema),
                                                              any_whitespace=False)
            elif params.regex is not None:
                compiled = self._compiler.compile_regex(params.regex)
            elif params.grammar is not None:
                compiled = self._compiler.compile_grammar(params.grammar)
            else:
                compiled = self._compiler.compile_grammar(choices_ebnf(params.choices or ()))
        except Exception as exc:  # xgrammar raises RuntimeError / its own errors for bad input
            raise GrammarError(f"cannot compile {key[0]} constraint: {exc}") from exc
        with self._lock:
            self._cache[key] = compiled
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return compiled

    def state(self, params: SamplingParams) -> GrammarState | None:
        compiled = self.compile(params)
        return None if compiled is None else GrammarState(compiled, self.vocab_size)


class GrammarState:
    """One request's position in its grammar."""

    def __init__(self, compiled: Any, vocab_size: int) -> None:
        import xgrammar as xgr

        self._xgr = xgr
        self.matcher = xgr.GrammarMatcher(compiled)
        self.vocab_size = vocab_size
        self.bitmask = xgr.allocate_token_bitmask(1, vocab_size)  # (1, ceil(V / 32)) int32

    def mask_(self, logits: Tensor) -> Tensor:
        """Set the logits of tokens the grammar forbids next to -inf, in place. logits: (V,) float32."""
        self.matcher.fill_next_token_bitmask(self.bitmask, 0)
        row = logits.view(1, -1)  # (1, V)
        self._xgr.apply_token_bitmask_inplace(row, self.bitmask, vocab_size=self.vocab_size)
        return logits

    def accept(self, token_id: int) -> None:
        if not self.matcher.accept_token(token_id):
            raise GrammarError(f"token {token_id} is not allowed by the grammar here")

    @property
    def terminated(self) -> bool:
        return bool(self.matcher.is_terminated())


class BatchBitmask:
    """The grammar masks of a decode step: one (max_rows, ceil(V / 32)) int32 bitmask on the CPU (pinned when
    the logits live on an accelerator, so the copy is asynchronous), reused every step."""

    def __init__(self, max_rows: int, vocab_size: int, *, device: torch.device | str = "cpu",
                 max_threads: int | str = "auto") -> None:
        import xgrammar as xgr

        self._xgr = xgr
        self.vocab_size = vocab_size
        self.device = torch.device(device)
        self.bitmask = xgr.allocate_token_bitmask(max_rows, vocab_size)  # (max_rows, ceil(V / 32)) int32
        if self.device.type == "cuda":
            self.bitmask = self.bitmask.pin_memory()
        self._batch = xgr.BatchGrammarMatcher(max_threads)

    def apply_(self, logits: Tensor, states: Sequence[GrammarState | None]) -> Tensor:
        """Set to -inf, in place, the logits each row's grammar forbids next. logits: (R, V) float32 on any
        device; states[r]: row r's grammar, None for an unconstrained row (left as is)."""
        rows = [r for r, s in enumerate(states) if s is not None]
        if not rows:
            return logits
        if logits.shape[0] != len(states) or logits.shape[0] > self.bitmask.shape[0]:
            raise ValueError(f"BatchBitmask: {logits.shape[0]} logit rows, {len(states)} states, "
                             f"room for {self.bitmask.shape[0]}")
        matchers = [states[r].matcher for r in rows]  # type: ignore[union-attr]
        self._batch.batch_fill_next_token_bitmask(matchers, self.bitmask, rows)
        mask = self.bitmask[: logits.shape[0]]  # (R, ceil(V / 32))
        if mask.device != logits.device:
            mask = mask.to(logits.device, non_blocking=True)
        self._xgr.apply_token_bitmask_inplace(logits, mask, vocab_size=self.vocab_size, indices=rows)
        return logits


__all__ = ["BatchBitmask", "GrammarError", "GrammarState", "Grammars", "choices_ebnf", "grammar_key", "regex_group_optional_bounded",
           "schema_patterns_fixed", "tokenizer_info"]
