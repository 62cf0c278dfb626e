"""Engine: continuous batching equals running alone, finish reasons, cancellation, errors, seeds, threads;
BatchKVCache against the uncached model. Token-level cases use the tiny random preset (fast); cases where
text matters use SmolLM2."""

from __future__ import annotations

import threading

import pytest
import torch

from modelcore.batch_cache import BatchKVCache
from modelcore.checkpoint import load_model
from modelcore.engine import Completion, Engine, PromptTooLongError, SamplingParams, TokenEvent

GREEDY = SamplingParams(temperature=0, max_tokens=10, ignore_eos=True)


@pytest.fixture(scope="module")
def tiny():
    return load_model("tiny-gqa")


@pytest.fixture(scope="module")
def smollm2(smollm2_dir):
    return load_model(smollm2_dir)


def prompts(*lengths: int, seed: int = 0) -> list[list[int]]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(3, 320, (n,), generator=g).tolist() for n in lengths]


@torch.inference_mode()
def greedy_reference(model, prompt: list[int], n: int) -> list[int]:
    """Uncached greedy decoding, one full forward per token."""
    ids = list(prompt)
    for _ in range(n):
        ids.append(int(model(torch.tensor([ids]))[0, -1].argmax()))
    return ids[len(prompt):]


def run_alone(model, prompt, params, **engine_kwargs) -> Completion:
    return Engine(model, None, **engine_kwargs).generate(prompt, params)


# ------------------------------------------------------------------------------------------ KV cache
@torch.inference_mode()
def test_batch_cache_decode_matches_uncached_for_rows_of_different_lengths(tiny):
    cache = BatchKVCache(tiny.config, max_rows=4, max_len=64, chunk=8)
    rows = prompts(5, 11, 2)
    for p in rows:
        r = cache.add_row()
        pos = cache.begin_prefill(r, len(p))
        tiny.model(torch.tensor([p]), pos, cache)
        cache.commit()
    assert cache.lengths == [5, 11, 2] and cache.capacity == 16
    nxt = [7, 8, 9]
    pos = cache.begin_decode()
    assert pos[:, 0].tolist() == [5, 11, 2]
    logits = tiny.lm_head(tiny.model(torch.tensor(nxt)[:, None], pos, cache)[:, -1])
    cache.commit()
    for r, (p, t) in enumerate(zip(rows, nxt, strict=True)):
        ref = tiny(torch.tensor([p + [t]]))[0, -1]
        torch.testing.assert_close(logits[r], ref, rtol=1e-4, atol=1e-5)
    # Removing a middle row moves the last one into its place with its cache.
    assert cache.remove_row(0) == 2
    assert cache.lengths == [3, 12]
    pos = cache.begin_decode()
    logits = tiny.lm_head(tiny.model(torch.tensor([[4], [5]]), pos, cache)[:, -1])
    cache.commit()
    torch.testing.assert_close(logits[0], tiny(torch.tensor([rows[2] + [9, 4]]))[0, -1], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(logits[1], tiny(torch.tensor([rows[1] + [8, 5]]))[0, -1], rtol=1e-4, atol=1e-5)


@torch.inference_mode()
def test_batch_cache_memory_follows_the_tokens_held(tiny):
    cache = BatchKVCache(tiny.config, max_rows=8, max_len=256, chunk=16)
    assert cache.nbytes == 0
    a = cache.add_row()
    cache.begin_prefill(a, 100)
    tiny.model(torch.zeros(1, 100, dtype=torch.long), torch.arange(100)[None], cache)
    cache.commit()
    assert (cache.row_capacity, cache.capacity) == (1, 112)  # chunks of 16
    b = cache.add_row()
    assert cache.row_capacity == 2 and cache.lengths == [100, 0]
    cache.remove_row(a)
    assert cache.lengths == [0]
    assert cache.capacity <= 32  # shrunk once the long row left
    cache.remove_row(0)
    assert cache.nbytes == 0 and b == 1


# ------------------------------------------------------------------------------------ batching parity
def test_mixed_batch_with_joins_equals_each_prompt_alone(tiny):
    ps = prompts(5, 17, 40, 3, 60, 9)
    engine = Engine(tiny, None, max_batch_size=3, prefill_chunk=16, kv_chunk=8)
    handles = [engine.submit(ps[0], GREEDY), engine.submit(ps[1], GREEDY)]
    engine.step()
    engine.step()  # the first two are decoding now
    handles += [engine.submit(p, GREEDY) for p in ps[2:]]  # join mid-way; 3 rows: some wait for a free one
    engine.step()
    assert engine.num_running == 3 and engine.num_waiting == 3
    engine.run_until_idle()
    for p, h in zip(ps, handles, strict=True):
        c = h.wait(0)
        alone = run_alone(tiny, p, GREEDY)
        assert c.token_ids == alone.token_ids == greedy_reference(tiny, p, GREEDY.max_tokens)
        assert (c.finish_reason, c.completion_tokens, c.prompt_tokens) == ("length", 10, len(p))
    assert engine.cache.num_rows == 0 and engine.cache.nbytes == 0


def test_same_seed_same_output_alone_or_in_a_batch(tiny):
    params = SamplingParams(temperature=1.0, top_k=50, top_p=0.95, seed=1234, max_tokens=12, ignore_eos=True)
    p = prompts(9)[0]
    alone = run_alone(tiny, p, params).token_ids
    assert run_alone(tiny, p, params).token_ids == alone
    engine = Engine(tiny, None, max_batch_size=4)
    others = [
        engine.submit(q, SamplingParams(temperature=1.0, seed=s, max_tokens=15, ignore_eos=True))
        for s, q in enumerate(prompts(4, 30, 12, seed=5))
    ]
    engine.step()
    h = engine.submit(p, params)
    engine.run_until_idle()
    assert h.wait(0).token_ids == alone
    assert run_alone(tiny, p, SamplingParams(**{**params.__dict__, "seed": 99})).token_ids != alone
    assert all(o.wait(0).completion_tokens == 15 for o in others)


# -------------------------------------------------------------------------------------- finish reasons
def test_max_tokens_and_context_limit_end_with_length(tiny):
    c = run_alone(tiny, prompts(5)[0], SamplingParams(temperature=0, max_tokens=3, ignore_eos=True))
    assert (c.finish_reason, c.completion_tokens) == ("length", 3)
    c = run_alone(tiny, prompts(5)[0], GREEDY, max_seq_len=8)  # room for 3 tokens after a 5-token prompt
    assert (c.finish_reason, c.completion_tokens) == ("length", 3)


def test_eos_ends_with_stop(tiny):
    p = prompts(7)[0]
    first = greedy_reference(tiny, p, 4)
    engine = Engine(tiny, None)
    engine.eos_ids = frozenset({first[2]})  # make the third greedy token the EOS
    c = engine.generate(p, SamplingParams(temperature=0, max_tokens=10))
    assert c.finish_reason == "stop" and c.token_ids == first[: first.index(first[2]) + 1]


def test_cancel_frees_the_row_for_a_queued_request(tiny):
    engine = Engine(tiny, None, max_batch_size=1)
    long = engine.submit(prompts(8)[0], SamplingParams(temperature=0, max_tokens=200, ignore_eos=True))
    queued = engine.submit(prompts(6)[0], GREEDY)
    engine.step()
    engine.step()
    assert engine.num_running == 1 and engine.num_waiting == 1
    long.cancel()
    assert long.done and long.wait(0).finish_reason == "cancelled"
    assert engine.cache.num_rows == 0  # freed at once, before any further step
    engine.step()
    assert engine.num_running == 1  # the queued request took the row
    engine.run_until_idle()
    assert queued.wait(0).token_ids == greedy_reference(tiny, prompts(6)[0], GREEDY.max_tokens)
    long.cancel()  # no-op once finished


def test_the_engine_ends_requests_at_their_deadline_waiting_or_running(tiny):
    import time

    from modelcore.engine import DEADLINE_EXCEEDED

    engine = Engine(tiny, None, max_batch_size=1)
    endless = SamplingParams(temperature=0, max_tokens=500, ignore_eos=True)
    running = engine.submit(prompts(8)[0], endless, deadline=time.monotonic() + 0.3,
                            on_token=lambda event: time.sleep(0.005))  # >= 2.5 s for all 500 tokens
    queued = engine.submit(prompts(6)[0], endless, deadline=time.monotonic() + 0.1)  # never gets the row in time
    started = time.monotonic()
    engine.run_until_idle()
    assert time.monotonic() - started < 5
    first, second = running.wait(0), queued.wait(0)
    assert (first.finish_reason, first.error) == ("cancelled", DEADLINE_EXCEEDED)
    assert 0 < first.completion_tokens < 500  # it ran until the deadline and keeps its tokens
    assert (second.finish_reason, second.error, second.completion_tokens) == ("cancelled", DEADLINE_EXCEEDED, 0)
    assert engine.cache.num_rows == 0
    for bad in ("soon", True, float("nan")):
        with pytest.raises(ValueError, match="deadline"):
            engine.submit(prompts(3)[0], GREEDY, deadline=bad)


def test_cancel_while_queued_and_from_the_callback(tiny):
    engine = Engine(tiny, None, max_batch_size=2)
    h = engine.submit(prompts(5)[0], GREEDY)
    h.cancel()
    c = h.wait(0)
    assert (c.finish_reason, c.completion_tokens) == ("cancelled", 0)

    events: list[TokenEvent] = []
    handles = {}

    def on_token(event: TokenEvent) -> None:
        events.append(event)
        if event.index == 2:
            handles["h"].cancel()

    handles["h"] = engine.submit(prompts(5)[0], GREEDY, on_token=on_token)
    engine.run_until_idle()
    c = handles["h"].wait(0)
    assert c.finish_reason == "cancelled" and c.completion_tokens == 3
    assert [e.token_id for e in events] == c.token_ids and [e.index for e in events] == [0, 1, 2]
    assert engine.cache.num_rows == 0


# ------------------------------------------------------------------------------------ errors and limits
def test_prompt_too_long_is_rejected_and_the_engine_keeps_working(tiny):
    engine = Engine(tiny, None, max_seq_len=32)
    with pytest.raises(PromptTooLongError, match=r"32 tokens.*32|32.*33") as info:
        engine.submit(list(range(3, 35)), GREEDY)
    assert "32" in str(info.value) and "33" in str(info.value)
    assert isinstance(info.value, ValueError)
    c = engine.generate(prompts(31)[0], GREEDY)  # 31 + 1 fits exactly
    assert (c.finish_reason, c.completion_tokens) == ("length", 1)
    with pytest.raises(ValueError, match="empty"):
        engine.submit([], GREEDY)
    with pytest.raises(ValueError, match="token ids"):
        engine.submit([1, 999], GREEDY)
    with pytest.raises(ValueError, match="serves no adapters"):
        engine.submit([1, 2], GREEDY, adapter=("some-adapter", "/nowhere"))
    with pytest.raises(ValueError, match="tokenizer"):
        engine.submit("text needs a tokenizer", GREEDY)


def test_an_exception_in_a_step_fails_those_requests_and_the_engine_goes_on(tiny):
    engine = Engine(tiny, None, max_batch_size=4)
    real_forward = engine._forward
    calls = {"n": 0}

    def flaky(input_ids, positions, adapters):
        calls["n"] += 1
        if input_ids.shape[1] == 1:  # the first decode step blows up
            engine._forward = real_forward
            raise RuntimeError("device on fire")
        return real_forward(input_ids, positions, adapters)

    engine._forward = flaky
    a, b = engine.submit(prompts(4)[0], GREEDY), engine.submit(prompts(6)[0], GREEDY)
    engine.run_until_idle()
    for h in (a, b):
        c = h.wait(0)
        assert c.finish_reason == "error" and "device on fire" in c.error
        assert c.completion_tokens == 1  # the token sampled from the prefill
    assert engine.cache.num_rows == 0
    c = engine.generate(prompts(6)[0], GREEDY)
    assert c.finish_reason == "length" and c.token_ids == greedy_reference(tiny, prompts(6)[0], 10)


def test_a_failing_callback_fails_only_its_request(tiny):
    engine = Engine(tiny, None, max_batch_size=4)

    def boom(event):
        raise ValueError("callback broke")

    bad = engine.submit(prompts(4)[0], GREEDY, on_token=boom)
    good = engine.submit(prompts(4)[0], GREEDY)
    engine.run_until_idle()
    assert bad.wait(0).finish_reason == "error" and "callback broke" in bad.wait(0).error
    assert good.wait(0).finish_reason == "length"


# ------------------------------------------------------------------------------------------ threading
def test_background_thread_serves_concurrent_submitters(tiny):
    ps = prompts(3, 8, 20, 5, 11, 2)
    results: dict[int, Completion] = {}
    with Engine(tiny, None, max_batch_size=3) as engine:

        def client(i: int) -> None:
            results[i] = engine.submit(ps[i], GREEDY).wait(timeout=60)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(len(ps))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert engine.generate(ps[0], GREEDY).token_ids == results[0].token_ids
        pending = engine.submit(ps[1], SamplingParams(temperature=0, max_tokens=10_000, ignore_eos=True))
    # stop() ends what is still running with "cancelled": no waiter hangs
    assert pending.wait(timeout=10).finish_reason in ("cancelled", "length")
    for i, p in enumerate(ps):
        assert results[i].token_ids == greedy_reference(tiny, p, GREEDY.max_tokens)


# --------------------------------------------------------------------------------- SmolLM2: text cases
def chat(tokenizer, text: str) -> str:
    return tokenizer.apply_chat_template([{"role": "user", "content": text}])


def test_smollm2_eos_stop_strings_and_streaming(smollm2, smollm2_tokenizer):
    tok = smollm2_tokenizer
    engine = Engine(smollm2, tok, max_batch_size=4)
    prompt = chat(tok, "What is the capital of France?")
    full = engine.generate(prompt, SamplingParams(temperature=0, max_tokens=40))
    assert full.finish_reason == "stop" and full.token_ids[-1] in tok.eos_token_ids  # EOS
    assert "Paris" in full.text and full.text == tok.decode(full.token_ids)

    stop_word = "Paris"
    deltas: list[str] = []
    h = engine.submit(prompt, SamplingParams(temperature=0, max_tokens=40, stop=(stop_word, "never-seen")),
                      on_token=lambda e: deltas.append(e.text))
    long = engine.submit(chat(tok, "Write a long story about a dragon."),
                         SamplingParams(temperature=0, max_tokens=12))
    engine.run_until_idle()
    c = h.wait(0)
    assert c.finish_reason == "stop"
    assert c.text == full.text[: full.text.index(stop_word)]
    assert "".join(deltas) == c.text == "".join(h)  # nothing of the stop string was streamed
    lc = long.wait(0)
    assert lc.finish_reason == "length" and lc.completion_tokens == 12 and "".join(long) == lc.text
    assert lc.timings["ttft_s"] <= lc.timings["total_s"]


def test_done_callbacks_get_the_completion_once_also_when_added_after_the_end(tiny):
    engine = Engine(tiny, max_batch_size=2, max_seq_len=32)
    seen: list[tuple[str, Completion]] = []
    handle = engine.submit(prompts(5)[0], SamplingParams(temperature=0.0, max_tokens=3))
    handle.add_done_callback(lambda c: seen.append(("before", c)))
    handle.add_done_callback(lambda c: 1 / 0)  # a failing callback is logged; the others and the engine go on
    cancelled = engine.submit(prompts(6)[0], SamplingParams(temperature=0.0, max_tokens=20))
    cancelled.add_done_callback(lambda c: seen.append(("cancelled", c)))
    engine.step()
    cancelled.cancel()
    engine.run_until_idle()
    handle.add_done_callback(lambda c: seen.append(("after", c)))
    assert [name for name, _ in seen] == ["cancelled", "before", "after"]
    assert seen[1][1] is seen[2][1] is handle.wait() and len(handle.wait().token_ids) == 3
    assert seen[0][1].finish_reason == "cancelled"
