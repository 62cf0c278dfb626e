"""SamplingParams validation, the logits processors, seeded sampling; batched sampling equals row by row."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from modelcore.sampling import (
    SamplingParams,
    apply_repetition_penalty,
    apply_top_k,
    apply_top_p,
    make_generator,
    sample_batch,
    sample_row,
)


def test_defaults_and_normalisation():
    p = SamplingParams(stop=["a", "b"], choices=["x", "y"], temperature=1, top_p=1)
    assert p.stop == ("a", "b") and p.choices == ("x", "y")
    assert isinstance(p.temperature, float) and p.temperature == 1.0
    assert SamplingParams(stop="END").stop == ("END",)
    assert SamplingParams(temperature=0).greedy
    assert not SamplingParams(temperature=0).needs_row_processing
    assert SamplingParams(temperature=0, regex="a+").needs_row_processing
    with pytest.raises(dataclasses.FrozenInstanceError):
        SamplingParams().temperature = 2.0  # frozen


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"temperature": -0.1}, "temperature"),
        ({"temperature": float("nan")}, "temperature"),
        ({"top_p": 0.0}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
        ({"top_k": -1}, "top_k"),
        ({"top_k": 2.5}, "top_k"),
        ({"repetition_penalty": 0.0}, "repetition_penalty"),
        ({"seed": "7"}, "seed"),
        ({"seed": True}, "seed"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"stop": ("",)}, "stop"),
        ({"json_schema": "{}"}, "json_schema"),
        ({"regex": ""}, "regex"),
        ({"choices": ()}, "choices"),
        ({"choices": ("a", "")}, "choices"),
        ({"regex": "a", "choices": ("a",)}, "at most one"),
    ],
)
def test_validation_names_the_bad_value(kwargs, name):
    with pytest.raises(ValueError, match=name):
        SamplingParams(**kwargs)


def test_top_k_keeps_the_k_largest():
    logits = torch.tensor([1.0, 5.0, 3.0, 4.0, 2.0])
    out = apply_top_k(logits.clone(), 2)
    assert torch.isfinite(out).tolist() == [False, True, False, True, False]
    assert torch.equal(apply_top_k(logits.clone(), 0), logits)


def test_top_p_keeps_the_nucleus():
    probs = torch.tensor([0.5, 0.3, 0.15, 0.05])
    logits = probs.log()
    assert torch.isfinite(apply_top_p(logits.clone(), 0.5)).tolist() == [True, False, False, False]
    assert torch.isfinite(apply_top_p(logits.clone(), 0.7)).tolist() == [True, True, False, False]
    assert torch.isfinite(apply_top_p(logits.clone(), 0.81)).tolist() == [True, True, True, False]
    assert torch.isfinite(apply_top_p(logits.clone(), 0.01)).sum() == 1  # the top token always stays


def test_repetition_penalty_hf_semantics():
    logits = torch.tensor([2.0, -2.0, 2.0, -2.0])
    seen = torch.tensor([True, True, False, False])
    out = apply_repetition_penalty(logits, seen, 2.0)
    assert out.tolist() == [1.0, -4.0, 2.0, -2.0]


def test_greedy_is_argmax_and_ignores_the_generator():
    logits = torch.randn(100, generator=torch.Generator().manual_seed(0))
    assert sample_row(logits.clone(), SamplingParams(temperature=0), None) == int(logits.argmax())


def test_seeded_sampling_is_reproducible_and_seed_dependent():
    logits = torch.randn(1000, generator=torch.Generator().manual_seed(1))
    params = SamplingParams(temperature=1.0)

    def draw(seed: int) -> list[int]:
        g = make_generator(seed)
        return [sample_row(logits.clone(), params, g) for _ in range(20)]

    assert draw(3) == draw(3)
    assert draw(3) != draw(4)


def test_sampling_respects_top_k_and_temperature():
    logits = torch.arange(10, dtype=torch.float32)
    g = make_generator(0)
    draws = {sample_row(logits.clone(), SamplingParams(temperature=2.0, top_k=3), g) for _ in range(200)}
    assert draws <= {7, 8, 9} and len(draws) > 1
    # A masked (-inf) logit is never drawn, whatever the temperature.
    masked = logits.clone()
    masked[9] = float("-inf")
    assert all(sample_row(masked.clone(), SamplingParams(temperature=5.0), g) != 9 for _ in range(200))


def test_sample_batch_picks_what_sample_row_picks_row_by_row():
    """The batched path against its eager reference: greedy, sampled (temperature, top-k, top-p, both),
    repetition penalty and masked rows in one batch, each row with its own seeded generator, several steps."""
    rows = [
        SamplingParams(temperature=0),
        SamplingParams(temperature=1.0, seed=1),
        SamplingParams(temperature=0.7, top_k=5, seed=2),
        SamplingParams(temperature=1.3, top_p=0.8, seed=3),
        SamplingParams(temperature=0.9, top_k=40, top_p=0.9, seed=4),
        SamplingParams(temperature=0, repetition_penalty=1.3),
        SamplingParams(temperature=1.0, repetition_penalty=0.8, top_k=2000, seed=5),  # top_k >= V: off
    ]
    vocab = 1000
    data = torch.Generator().manual_seed(7)
    seen = [torch.rand(vocab, generator=data) < 0.1 if p.repetition_penalty != 1.0 else None for p in rows]
    gens_batch = [make_generator(p.seed) for p in rows]
    gens_rows = [make_generator(p.seed) for p in rows]
    for _ in range(20):
        logits = torch.randn(len(rows), vocab, generator=data) * 3
        logits[1, ::3] = float("-inf")  # a grammar-masked row
        before = logits.clone()
        batch = sample_batch(logits, rows, gens_batch, seen).tolist()
        assert torch.equal(logits, before)  # the caller's logits are left as they were
        one_by_one = [sample_row(logits[r].clone(), p, gens_rows[r], seen[r]) for r, p in enumerate(rows)]
        assert batch == one_by_one
        assert batch[1] % 3 != 0
    with pytest.raises(ValueError, match="2 logit rows"):
        sample_batch(torch.zeros(2, vocab), rows, gens_batch)
