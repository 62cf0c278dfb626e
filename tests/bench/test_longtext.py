"""bench/longtext.py: the offline long text and chunked next-token NLL / perplexity."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bench.longtext import describe_text, perplexity, reference_text, token_nll


def test_reference_text_is_long_fixed_prose():
    text = reference_text()
    assert len(text) > 300_000  # ~465k characters on Python 3.11
    assert text == reference_text()  # same order every call
    assert "assignment statement" in text.lower()
    info = describe_text(text)
    assert info["characters"] == len(text) and len(info["sha256_16"]) == 16


@pytest.mark.parametrize("chunk", [1, 3, 7, 100])
def test_token_nll_matches_full_cross_entropy(chunk):
    gen = torch.Generator().manual_seed(0)
    head = nn.Linear(8, 11, bias=False)
    nn.init.normal_(head.weight, generator=gen)
    hidden = torch.randn(2, 9, 8, generator=gen)
    ids = torch.randint(0, 11, (2, 9), generator=gen)
    nll = token_nll(head, hidden, ids, chunk=chunk)
    logits = head(hidden[:, :-1])  # (2, 8, 11)
    expected = F.cross_entropy(logits.transpose(1, 2), ids[:, 1:], reduction="none")
    assert nll.shape == (2, 8)
    torch.testing.assert_close(nll, expected.detach())
    assert perplexity(nll) == pytest.approx(math.exp(expected.mean().item()), rel=1e-6)
    assert perplexity(nll, 4) == pytest.approx(math.exp(expected[:, 4:].mean().item()), rel=1e-6)


def test_token_nll_rejects_mismatched_shapes_and_empty_ranges():
    head = nn.Linear(4, 5, bias=False)
    with pytest.raises(ValueError, match="does not fit"):
        token_nll(head, torch.zeros(1, 3, 4), torch.zeros(1, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="no positions"):
        perplexity(torch.zeros(1, 3), 3)
