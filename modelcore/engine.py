"""`Engine`: continuous batching over one model, with streaming, cancellation and per-request sampling.

Every `step()`:
1. admits waiting requests while rows are free (each running request owns one `BatchKVCache` row);
2. prefills: up to `prefill_chunk` prompt tokens in total, one chunk per forward, per request in arrival
   order; a request whose prompt is now complete samples its first token from the chunk's last logits;
3. decodes: one batched forward feeds every running request its last token; the grammar masks of the
   constrained rows are filled into one bitmask and applied to the (R, V) logits at once, every row is
   sampled on the logits' device (`sampling.sample_batch`) and the tokens reach the host in one `.tolist()`.
   Rows still prefilling ride along with a dummy token at their next free slot and are not committed; their
   next prefill chunk overwrites that slot. `eager_sampling=True` (and a failure of the batched path) masks
   and samples row by row instead (`GrammarState.mask_`, `sample_row`: the reference).
Requests that finish (EOS, stop string, grammar terminated, max_tokens, context full, cancelled, error)
leave at once and free their row; the next waiting request takes it in the same or the next step.

Adapters (`max_adapters` > 0): the model's target Linears become `MultiLoraLinear`s of a `LoraBank`
(modelcore.adapters). A request names its adapter as `(name, directory)`; it is loaded on admission when not
resident, evicting the least recently used adapter that no running request uses. A request whose adapter
needs a slot while every slot serves running requests waits. Each forward marks every row with its
request's adapter, so requests with different adapters (and none) share one batch: the base matmul once,
each row's LoRA delta on its own row.

Threads: `step()` and everything touching the model / cache run under one lock, on whichever thread calls
`step()` (tests) or on the engine's background thread (`start()` / `stop()`). `submit()` only queues, so it
never waits for a step; `cancel()` waits for the current step (if any) and then frees the row.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor

from .adapters import LoraBank, attach_lora_bank
from .batch_cache import BatchKVCache
from .model import apply_linear
from .prefix_cache import DEFAULT_BLOCK_SIZE, PrefixCache
from .sampling import SamplingParams, make_generator, sample_batch, sample_row
from .structured import BatchBitmask, Grammars, GrammarState

logger = logging.getLogger(__name__)

FinishReason = Literal["stop", "length", "cancelled", "error"]


DEADLINE_EXCEEDED = "deadline exceeded"  # Completion.error of a request the engine ended at its deadline


class PromptTooLongError(ValueError):
    """The prompt does not leave room for one generated token in the context."""


@dataclass(frozen=True)
class TokenEvent:
    """Passed to `on_token` for every generated token. `text` is the text this token released ("" while
    it is held back: an incomplete UTF-8 character or a possible stop-string prefix); `finish_reason` is
    set on the request's last event."""

    request_id: int
    token_id: int
    text: str
    index: int
    finish_reason: FinishReason | None = None


@dataclass(frozen=True)
class Completion:
    """The result of one request. `token_ids` are all generated ids (an EOS included); `text` is their text,
    cut before a stop string if one ended the request. `timings`: seconds, keys "queue_s" (submit -> admitted),
    "ttft_s" (submit -> first token), "total_s" (submit -> finished), when they happened."""

    text: str
    token_ids: list[int]
    finish_reason: FinishReason
    prompt_tokens: int
    completion_tokens: int
    error: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    cached_tokens: int = 0  # prompt tokens whose KV came from the prefix cache (not computed)


@dataclass(frozen=True)
class EngineStats:
    """What the engine holds now, for monitoring (`Engine.stats()`). Read without waiting for a step, so the
    numbers may be one step apart from each other."""

    running: int  # requests in the batch (one KV-cache row each)
    waiting: int  # submitted, not yet admitted
    max_batch_size: int
    kv_tokens: int  # tokens held in the KV cache, all rows
    kv_capacity_tokens: int  # max_batch_size * max_seq_len: what the cache may grow to
    kv_bytes: int  # bytes the cache has allocated now
    adapters_resident: int
    max_adapters: int
    adapter_loads: int  # adapters read into a slot since the engine was built (evictions make reloads)
    adapter_load_failures: int
    prefix_cache_bytes: int = 0  # KV of shared prompt prefixes kept (modelcore.prefix_cache)
    prefix_cache_hit_tokens: int = 0  # prompt tokens served from it since the engine was built


_END = object()  # end of a handle's delta stream


class RequestHandle:
    """What `submit` returns: wait for the result, iterate over text deltas, or cancel."""

    def __init__(self, engine: Engine, request: _Request) -> None:
        self._engine = engine
        self._request = request
        self._done = threading.Event()
        self._deltas: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._completion: Completion | None = None
        self._callbacks: list[Callable[[Completion], None]] = []
        self._callbacks_lock = threading.Lock()

    @property
    def id(self) -> int:
        return self._request.id

    @property
    def prompt_tokens(self) -> int:
        return len(self._request.prompt_ids)

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def cancel(self) -> None:
        """End the request now (finish_reason "cancelled") and free its row; no-op once it has finished."""
        self._engine._cancel(self._request)

    def wait(self, timeout: float | None = None) -> Completion:
        """Block until the request finishes (somebody must be stepping the engine: `start()` or `step()`).
        Raises TimeoutError after `timeout` seconds."""
        if not self._done.wait(timeout):
            raise TimeoutError(f"request {self.id} not finished after {timeout} s")
        assert self._completion is not None
        return self._completion

    def add_done_callback(self, fn: Callable[[Completion], None]) -> None:
        """Call `fn(completion)` once the request finishes (on the thread that finishes it: keep it short and
        non-blocking, e.g. `loop.call_soon_threadsafe`); at once, on this thread, if it has already finished."""
        with self._callbacks_lock:
            if self._completion is None:
                self._callbacks.append(fn)
                return
        fn(self._completion)

    def __iter__(self) -> Iterator[str]:
        """Text deltas as they are released; ends when the request finishes."""
        while True:
            item = self._deltas.get()
            if item is _END:
                self._deltas.put(_END)  # a later iteration ends at once too
                return
            yield item

    # engine side
    def _push(self, delta: str) -> None:
        self._deltas.put(delta)

    def _resolve(self, completion: Completion) -> None:
        with self._callbacks_lock:
            self._completion = completion
            callbacks, self._callbacks = self._callbacks, []
        self._deltas.put(_END)
        self._done.set()
        for fn in callbacks:
            try:
                fn(completion)
            except Exception:  # a caller's callback must not break the engine's step
                logger.exception("done callback of request %d failed", self.id)


class _Request:
    def __init__(
        self,
        rid: int,
        prompt_ids: list[int],
        params: SamplingParams,
        grammar: GrammarState | None,
        on_token: Callable[[TokenEvent], None] | None,
        decoder: Any,
        adapter: tuple[str, str] | None = None,
        deadline: float | None = None,
    ) -> None:
        self.id = rid
        self.deadline = deadline  # time.monotonic() after which the engine ends the request
        self.adapter_name, self.adapter_path = adapter if adapter is not None else (None, None)
        self.prompt_ids = prompt_ids
        self.params = params
        self.grammar = grammar
        self.on_token = on_token
        self.decoder = decoder  # tokenizer.StreamDecoder or None (no tokenizer: ids only)
        self.handle: RequestHandle | None = None
        self.generator: torch.Generator | None = None  # created on admission (engine thread)
        self.seen: Tensor | None = None  # bool (V,) for the repetition penalty
        self.row: int | None = None
        self.prefilled = 0  # prompt tokens in the cache
        self.cached_tokens = 0  # of which copied from the prefix cache
        self.out_ids: list[int] = []
        self.text = ""
        self.sent = 0  # len of text already released
        self.cancel_requested = False
        self.finished = False
        self.t_submit = time.perf_counter()
        self.t_admit: float | None = None
        self.t_first: float | None = None

    @property
    def decoding(self) -> bool:
        return self.prefilled == len(self.prompt_ids) and bool(self.out_ids)


class Engine:
    """Continuous-batching generation over `model` (a `Transformer`) and `tokenizer` (a `Tokenizer`, or None
    for token-id prompts only: no text, stop strings or constraints).

    max_batch_size: requests decoded together (KV-cache rows); max_seq_len: context per request (prompt +
    completion; default the model's max_position_embeddings); prefill_chunk: prompt tokens per step;
    eager_sampling: mask and sample row by row (the reference path) instead of once per batch;
    prefix_cache_bytes: memory for the KV of shared prompt prefixes (modelcore.prefix_cache; 0 = off), kept in
    blocks of prefix_block tokens.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any = None,
        *,
        max_batch_size: int = 8,
        max_seq_len: int | None = None,
        prefill_chunk: int = 512,
        kv_chunk: int = 128,
        max_adapters: int = 0,
        eager_sampling: bool = False,
        prefix_cache_bytes: int = 0,
        prefix_block: int = DEFAULT_BLOCK_SIZE,
    ) -> None:
        config = model.config
        if max_batch_size < 1 or prefill_chunk < 1:
            raise ValueError(f"Engine: max_batch_size={max_batch_size}, prefill_chunk={prefill_chunk} must be >= 1")
        if max_seq_len is None:
            max_seq_len = config.max_position_embeddings
        if max_seq_len < 2:
            raise ValueError(f"Engine: max_seq_len={max_seq_len} must be >= 2")
        self.model = model
        self.tokenizer = tokenizer
        self.config = config
        self.max_batch_size = max_batch_size
        self.max_seq_len = max_seq_len
        self.prefill_chunk = prefill_chunk
        param = next(model.parameters())
        self.device = param.device
        self.lora: LoraBank | None = (
            attach_lora_bank(model, max_adapters=max_adapters) if max_adapters > 0 else None
        )
        self.cache = BatchKVCache(
            config, max_batch_size, max_seq_len, dtype=param.dtype, device=param.device, chunk=kv_chunk
        )
        if tokenizer is not None:
            self.eos_ids = frozenset(tokenizer.eos_token_ids)
        else:
            self.eos_ids = frozenset() if config.eos_token_id is None else frozenset({config.eos_token_id})
        self.eager_sampling = eager_sampling
        self.prefix: PrefixCache | None = (
            PrefixCache(prefix_cache_bytes, block_size=prefix_block) if prefix_cache_bytes > 0 else None
        )
        self._grammars: Grammars | None = None
        self._grammars_lock = threading.Lock()
        self._bitmask: BatchBitmask | None = None  # built with the first constrained request (engine thread)
        self._ids = itertools.count(1)

        self._lock = threading.RLock()  # engine state below; held for a whole step
        self._incoming: deque[_Request] = deque()  # submitted, not yet seen by a step
        self._wakeup = threading.Condition(threading.Lock())  # guards _incoming; wakes the loop
        self._waiting: deque[_Request] = deque()
        self._rows: list[_Request] = []  # _rows[r] owns cache row r
        self._step_thread: int | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._adapter_loads = 0
        self._adapter_load_failures = 0

    # ------------------------------------------------------------------------------------------ submit
    def submit(
        self,
        prompt: str | Sequence[int],
        params: SamplingParams | None = None,
        *,
        adapter: tuple[str, str] | None = None,
        on_token: Callable[[TokenEvent], None] | None = None,
        deadline: float | None = None,
    ) -> RequestHandle:
        """Queue a request; thread-safe, returns at once. `adapter`: (name, PEFT adapter directory) or None
        for the base model. Raises PromptTooLongError when prompt + 1 token exceeds max_seq_len, ValueError
        for bad prompts / constraints / adapters. `deadline`: a `time.monotonic()` value; the engine ends the request
        between steps once it has passed (waiting or running; finish_reason "cancelled", error DEADLINE_EXCEEDED,
        the text so far kept)."""
        if deadline is not None and (isinstance(deadline, bool) or not isinstance(deadline, (int, float))
                                     or deadline != deadline):
            raise ValueError("deadline must be a time.monotonic() value or None")
        if adapter is not None:
            if self.lora is None:
                raise ValueError("this engine serves no adapters (max_adapters=0)")
            if not (isinstance(adapter, tuple) and len(adapter) == 2 and all(isinstance(a, str) for a in adapter)):
                raise ValueError("adapter must be a (name, directory) pair of strings")
        params = SamplingParams() if params is None else params
        if not isinstance(params, SamplingParams):
            raise TypeError(f"params must be SamplingParams, got {type(params).__name__}")
        prompt_ids = self._prompt_ids(prompt)
        if len(prompt_ids) + 1 > self.max_seq_len:
            raise PromptTooLongError(
                f"prompt has {len(prompt_ids)} tokens; with one generated token that is {len(prompt_ids) + 1}, "
                f"more than the context of {self.max_seq_len} tokens (max_seq_len)"
            )
        if self.tokenizer is None and (params.stop or params.constrained):
            raise ValueError("stop strings and json_schema / regex / choices need an Engine with a tokenizer")
        grammar = self._grammar_state(params) if params.constrained else None
        decoder = None if self.tokenizer is None else self.tokenizer.stream_decoder()
        req = _Request(next(self._ids), prompt_ids, params, grammar, on_token, decoder, adapter, deadline)
        handle = RequestHandle(self, req)
        req.handle = handle
        with self._wakeup:
            self._incoming.append(req)
            self._wakeup.notify()
        return handle

    def _prompt_ids(self, prompt: str | Sequence[int]) -> list[int]:
        if isinstance(prompt, str):
            if self.tokenizer is None:
                raise ValueError("a text prompt needs an Engine with a tokenizer; pass token ids instead")
            ids = self.tokenizer.encode(prompt)
        else:
            ids = list(prompt)
            vocab = self.config.vocab_size
            bad = [i for i in ids if not (isinstance(i, int) and not isinstance(i, bool) and 0 <= i < vocab)]
            if bad:
                raise ValueError(f"prompt token ids must be ints in [0, {vocab}), got {bad[:5]}")
        if not ids:
            raise ValueError("the prompt is empty (at least one token is needed)")
        return ids

    def _grammar_state(self, params: SamplingParams) -> GrammarState | None:
        with self._grammars_lock:
            if self._grammars is None:
                self._grammars = Grammars(self.tokenizer, self.config.vocab_size)
        return self._grammars.state(params)

    def generate(self, prompt: str | Sequence[int], params: SamplingParams | None = None) -> Completion:
        """submit + wait. Without a background thread this call steps the engine itself."""
        handle = self.submit(prompt, params)
        if self.running:
            return handle.wait()
        while not handle.done:
            self.step()
        return handle.wait()

    # ------------------------------------------------------------------------------------------- state
    @property
    def running(self) -> bool:
        """True while the background thread runs."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def num_running(self) -> int:
        return len(self._rows)

    @property
    def num_waiting(self) -> int:
        return len(self._waiting) + len(self._incoming)

    def has_work(self) -> bool:
        return bool(self._rows or self._waiting or self._incoming)

    def stats(self) -> EngineStats:
        """Batch occupancy, KV-cache use and adapter loads now; never waits for the step lock."""
        lengths = list(self.cache.lengths)
        prefix = self.prefix.stats() if self.prefix is not None else None
        return EngineStats(
            running=len(lengths),
            waiting=self.num_waiting,
            max_batch_size=self.max_batch_size,
            kv_tokens=sum(lengths),
            kv_capacity_tokens=self.max_batch_size * self.max_seq_len,
            kv_bytes=self.cache.nbytes,
            adapters_resident=len(self.lora.names()) if self.lora is not None else 0,
            max_adapters=self.lora.max_adapters if self.lora is not None else 0,
            adapter_loads=self._adapter_loads,
            adapter_load_failures=self._adapter_load_failures,
            prefix_cache_bytes=prefix.bytes if prefix is not None else 0,
            prefix_cache_hit_tokens=prefix.hit_tokens if prefix is not None else 0,
        )

    # -------------------------------------------------------------------------------------------- step
    def step(self) -> bool:
        """Admit, prefill one budget of prompt tokens, decode one token for every running request.
        Returns whether work remains. Never raises for a request's failure: that request ends with "error"."""
        with self._lock, torch.inference_mode():
            self._step_thread = threading.get_ident()
            try:
                self._drain_incoming()
                self._admit()
                self._prefill()
                self._decode()
            except Exception as exc:  # a bug outside the per-request guards: fail what is running, keep going
                logger.exception("engine step failed")
                for req in list(self._rows):
                    self._finish(req, "error", error=f"{type(exc).__name__}: {exc}")
                self.cache.clear_forward()
            finally:
                self._step_thread = None
            return self.has_work()

    def run_until_idle(self, max_steps: int | None = None) -> None:
        """Step until nothing is queued or running (tests, scripts)."""
        steps = 0
        while self.step():
            steps += 1
            if max_steps is not None and steps >= max_steps:
                break

    def _drain_incoming(self) -> None:
        with self._wakeup:
            while self._incoming:
                self._waiting.append(self._incoming.popleft())
        now = time.monotonic()
        for req in [r for r in [*self._waiting, *self._rows] if r.cancel_requested]:
            self._finish(req, "cancelled")
        for req in [r for r in [*self._waiting, *self._rows] if r.deadline is not None and now >= r.deadline]:
            self._finish(req, "cancelled", error=DEADLINE_EXCEEDED)

    def _admit(self) -> None:
        """Admit waiting requests in arrival order while rows are free. A request whose adapter cannot get a slot
        now (every slot serves running requests) keeps its place at the head of the queue and takes the first
        slot that frees, while requests behind it that need no new adapter are admitted: no head-of-line blocking
        behind adapter loads."""
        blocked = False  # a request ahead is waiting for an adapter slot
        for req in list(self._waiting):
            if self.cache.num_rows >= self.max_batch_size:
                break
            if req.adapter_name is not None:
                if blocked and req.adapter_name not in self.lora.names():
                    continue  # no slot for a new adapter: the request ahead of it gets the next one first
                ready = self._adapter_ready(req)
                if ready is None:
                    continue  # its adapter failed to load: the request has ended
                if not ready:
                    blocked = True
                    continue
            self._waiting.remove(req)
            req.row = self.cache.add_row()
            self._rows.append(req)
            if self.prefix is not None:
                self._reuse_prefix(req)
            req.t_admit = time.perf_counter()
            req.generator = make_generator(req.params.seed, self.device)
            if req.params.repetition_penalty != 1.0:
                req.seen = torch.zeros(self.config.vocab_size, dtype=torch.bool, device=self.device)
                req.seen[torch.tensor(req.prompt_ids, device=self.device)] = True

    @staticmethod
    def _adapter_key(req: _Request) -> tuple[str, str] | None:
        return (req.adapter_name, req.adapter_path) if req.adapter_name is not None else None

    def _reuse_prefix(self, req: _Request) -> None:
        """Copy the longest cached prefix of req's prompt into its (new, empty) row: those tokens are prefilled."""
        assert self.prefix is not None and req.row is not None
        n, kv = self.prefix.match(self._adapter_key(req), req.prompt_ids)
        if kv is not None:
            self.cache.write_prefix(req.row, kv)
            req.prefilled = req.cached_tokens = n

    def _keep_prefix(self, req: _Request) -> None:
        """Keep the whole blocks of req's prompt prefilled so far in the prefix cache (those not kept yet)."""
        assert self.prefix is not None and req.row is not None
        row = req.row
        self.prefix.insert(self._adapter_key(req), req.prompt_ids, req.prefilled,
                           lambda start, end: self.cache.read_slots(row, start, end))

    def _adapter_ready(self, req: _Request) -> bool | None:
        """Make `req`'s adapter resident. False: no slot can be freed now; None: loading failed (req ended)."""
        assert self.lora is not None and req.adapter_name is not None
        if req.adapter_name in self.lora.names():
            return True
        in_use = {r.adapter_name for r in self._rows if r.adapter_name is not None}
        if len(in_use) >= self.lora.max_adapters:
            return False
        resident = self.lora.names()  # least recently used first
        if len(resident) >= self.lora.max_adapters:
            self.lora.unload(next(name for name in resident if name not in in_use))
        try:
            self.lora.load(req.adapter_name, req.adapter_path)
        except Exception as exc:  # unreadable or mismatched adapter: this request fails, the engine goes on
            self._adapter_load_failures += 1
            logger.warning("adapter %s failed to load for request %d", req.adapter_name, req.id)
            self._finish(req, "error", error=f"adapter {req.adapter_name}: {exc}")
            return None
        self._adapter_loads += 1
        return True

    def _forward(self, input_ids: Tensor, positions: Tensor, adapters: Sequence[str | None]) -> Tensor:
        """Logits (B, V) float32 of the last position of every row (the lm_head runs on that position only).
        `adapters[b]` is the adapter name of row b (None: base model)."""
        if self.lora is None or all(a is None for a in adapters):
            h = self.model.model(input_ids, positions, self.cache)  # (B, T, C)
        else:
            with self.lora.use_rows(self.lora.rows_for(adapters, device=self.device)):
                h = self.model.model(input_ids, positions, self.cache)  # (B, T, C)
        return apply_linear(self.model.lm_head, h[:, -1, :]).float()  # (B, V)

    def _prefill(self) -> None:
        budget = self.prefill_chunk
        for req in list(self._rows):
            if budget <= 0:
                break
            if req.finished or req.prefilled == len(req.prompt_ids):
                continue
            n = min(budget, len(req.prompt_ids) - req.prefilled)
            budget -= n
            try:
                chunk = req.prompt_ids[req.prefilled : req.prefilled + n]
                positions = self.cache.begin_prefill(req.row, n)  # (1, n)
                input_ids = torch.tensor([chunk], dtype=torch.long, device=self.device)  # (1, n)
                logits = self._forward(input_ids, positions, [req.adapter_name])  # (1, V)
                self.cache.commit()
                req.prefilled += n
                if self.prefix is not None:
                    self._keep_prefix(req)
                if req.prefilled == len(req.prompt_ids):
                    token = self._sample(req, logits[0]) if self.eager_sampling else self._sample_batch([req], logits)[0]
                    self._emit(req, token)
            except Exception as exc:
                self.cache.clear_forward()
                logger.exception("prefill failed for request %d", req.id)
                self._finish(req, "error", error=f"{type(exc).__name__}: {exc}")

    def _decode(self) -> None:
        rows = list(self._rows)
        active = [req.decoding and not req.finished for req in rows]
        if not any(active):
            return
        try:
            # Rows still prefilling feed a dummy token at their next free slot (not committed).
            last = [req.out_ids[-1] if ok else 0 for req, ok in zip(rows, active, strict=True)]
            input_ids = torch.tensor(last, dtype=torch.long, device=self.device)[:, None]  # (R, 1)
            positions = self.cache.begin_decode()  # (R, 1)
            logits = self._forward(input_ids, positions, [req.adapter_name for req in rows])  # (R, V)
            self.cache.commit(active)
        except Exception as exc:
            self.cache.clear_forward()
            logger.exception("decode step failed")
            for req, ok in zip(rows, active, strict=True):
                if ok:
                    self._finish(req, "error", error=f"{type(exc).__name__}: {exc}")
            return
        # Sample every row first (rows renumber as requests finish), then emit.
        live = [req for req, ok in zip(rows, active, strict=True) if ok]
        if not all(active):
            logits = logits[torch.tensor([r for r, ok in enumerate(active) if ok], device=logits.device)]
        tokens: list[tuple[_Request, int]] = []
        if not self.eager_sampling:
            try:
                tokens = list(zip(live, self._sample_batch(live, logits), strict=True))
            except Exception:  # e.g. a matcher in a bad state: redo row by row, so only that request fails
                logger.exception("batched sampling failed; sampling row by row")
                tokens = []
        if not tokens:
            tokens = self._sample_rows(live, logits)
        for req, token in tokens:
            if not req.finished:
                self._emit(req, token)

    def _sample_batch(self, reqs: list[_Request], logits: Tensor) -> list[int]:
        """The next token of every request (row r of logits (R, V) is reqs[r]'s): one bitmask fill and apply,
        batched sampling on the logits' device, one host sync."""
        states = [req.grammar for req in reqs]
        if any(s is not None for s in states):
            if self._bitmask is None:
                self._bitmask = BatchBitmask(self.max_batch_size, self.config.vocab_size, device=self.device)
            self._bitmask.apply_(logits, states)
        if not any(req.params.needs_row_processing for req in reqs):
            return logits.argmax(dim=-1).tolist()  # every row plain greedy
        return sample_batch(logits, [req.params for req in reqs], [req.generator for req in reqs],
                            [req.seen for req in reqs]).tolist()

    def _sample_rows(self, reqs: list[_Request], logits: Tensor) -> list[tuple[_Request, int]]:
        """The eager reference: row by row (a failing row ends its own request only)."""
        greedy = logits.argmax(dim=-1).tolist()  # one batched argmax serves all plain greedy rows
        tokens: list[tuple[_Request, int]] = []
        for r, req in enumerate(reqs):
            try:
                token = self._sample(req, logits[r]) if req.params.needs_row_processing else greedy[r]
            except Exception as exc:
                logger.exception("sampling failed for request %d", req.id)
                self._finish(req, "error", error=f"{type(exc).__name__}: {exc}")
                continue
            tokens.append((req, token))
        return tokens

    def _sample(self, req: _Request, logits: Tensor) -> int:
        if req.grammar is not None:
            req.grammar.mask_(logits)
        return sample_row(logits, req.params, req.generator, req.seen)

    # ------------------------------------------------------------------------------------ token output
    def _emit(self, req: _Request, token: int) -> None:
        """Record one generated token: text, stop conditions, streaming; finishes the request if it ends."""
        try:
            params = req.params
            req.out_ids.append(token)
            if req.t_first is None:
                req.t_first = time.perf_counter()
            if req.seen is not None:
                req.seen[token] = True
            if req.grammar is not None:
                req.grammar.accept(token)
            finish: FinishReason | None = None
            cut = False
            if req.decoder is not None:
                before = len(req.text)
                req.text += req.decoder.feed(token)
                if params.stop:
                    at = _find_stop(req.text, params.stop, before)
                    if at is not None:
                        req.text, finish, cut = req.text[:at], "stop", True
            if finish is None:
                if req.grammar is not None and req.grammar.terminated:
                    finish = "stop"
                elif token in self.eos_ids and not params.ignore_eos:
                    finish = "stop"
                elif len(req.out_ids) >= params.max_tokens:
                    finish = "length"
                elif len(req.prompt_ids) + len(req.out_ids) >= self.max_seq_len:
                    finish = "length"  # the context is full
            if finish is not None and req.decoder is not None and not cut:
                req.text += req.decoder.finish()
            end = len(req.text) if finish is not None else len(req.text) - _held_back(req.text, params.stop)
            delta = req.text[req.sent : end] if end > req.sent else ""
            req.sent = max(req.sent, end)
            if delta:
                assert req.handle is not None
                req.handle._push(delta)
            if req.on_token is not None:
                event = TokenEvent(req.id, token, delta, len(req.out_ids) - 1, finish)
                req.on_token(event)
        except Exception as exc:
            logger.exception("request %d failed while emitting a token", req.id)
            self._finish(req, "error", error=f"{type(exc).__name__}: {exc}")
            return
        if finish is not None:
            self._finish(req, finish)
        elif req.cancel_requested:
            self._finish(req, "cancelled")

    def _finish(self, req: _Request, reason: FinishReason, *, error: str | None = None) -> None:
        """End `req`: free its row at once, resolve its handle."""
        if req.finished:
            return
        req.finished = True
        if req.row is not None:
            row = req.row
            moved = self.cache.remove_row(row)
            last = self._rows.pop()  # mirror the cache: the last row moves into the hole
            if moved is not None:
                self._rows[row] = last
                last.row = row
            req.row = None
        elif req in self._waiting:
            self._waiting.remove(req)
        now = time.perf_counter()
        timings = {"total_s": now - req.t_submit}
        if req.t_admit is not None:
            timings["queue_s"] = req.t_admit - req.t_submit
        if req.t_first is not None:
            timings["ttft_s"] = req.t_first - req.t_submit
        completion = Completion(
            text=req.text,
            token_ids=list(req.out_ids),
            finish_reason=reason,
            prompt_tokens=len(req.prompt_ids),
            completion_tokens=len(req.out_ids),
            error=error,
            timings=timings,
            cached_tokens=req.cached_tokens,
        )
        assert req.handle is not None
        req.handle._resolve(completion)

    # -------------------------------------------------------------------------------------- cancellation
    def _cancel(self, req: _Request) -> None:
        req.cancel_requested = True
        if self._step_thread == threading.get_ident():
            return  # called from on_token inside a step: the step ends it after this token
        with self._lock, torch.inference_mode():
            self._drain_incoming()  # finishes it (and any other cancelled request) and frees its row

    # ------------------------------------------------------------------------------- background thread
    def start(self) -> Engine:
        """Run steps on a background thread (the only thread touching the model) until `stop()`."""
        if self.running:
            return self
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name="modelcore-engine", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Stop the background thread; requests still queued or running end with "cancelled"."""
        with self._wakeup:
            self._stopping = True
            self._wakeup.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        with self._lock, torch.inference_mode():
            self._drain_incoming()
            for req in list(self._rows) + list(self._waiting):
                self._finish(req, "cancelled")

    def __enter__(self) -> Engine:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _loop(self) -> None:
        while True:
            with self._wakeup:
                while not self._stopping and not self.has_work():
                    self._wakeup.wait(0.5)
                if self._stopping:
                    return
            self.step()


# ---------------------------------------------------------------------------------------- stop strings
def _find_stop(text: str, stops: tuple[str, ...], new_from: int) -> int | None:
    """Index of the earliest stop string in `text` that ends after `new_from` (the text before was checked)."""
    best = None
    for s in stops:
        at = text.find(s, max(0, new_from - len(s) + 1))
        if at != -1 and (best is None or at < best):
            best = at
    return best


def _held_back(text: str, stops: tuple[str, ...]) -> int:
    """Length of the longest suffix of `text` that is a proper prefix of a stop string (not streamed yet)."""
    held = 0
    for s in stops:
        for n in range(min(len(s) - 1, len(text)), held, -1):
            if text.endswith(s[:n]):
                held = n
                break
    return held


__all__ = ["Completion", "Engine", "PromptTooLongError", "RequestHandle", "SamplingParams", "TokenEvent"]
