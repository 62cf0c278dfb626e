"""PLUMBLINE_LAYER_ATTENTION: gpu workers serve the model with the configured per-layer attention."""
from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from apps.generation.runtime import _EngineHolder, layer_attention_setting


def test_unset_means_the_checkpoint_as_is():
    assert layer_attention_setting("", 4) is None
    assert layer_attention_setting("  ", 4) is None


def test_kind_on_listed_layers_others_dense():
    spec = layer_attention_setting('{"kind": "sparse", "options": {"top_k": 8}, "layers": [1, 3]}', 4)
    assert spec == ["dense", {"kind": "sparse", "options": {"top_k": 8}}, "dense",
                    {"kind": "sparse", "options": {"top_k": 8}}]
    assert layer_attention_setting('["dense", "sparse"]', 2) == ["dense", "sparse"]


@pytest.mark.parametrize("raw, message", [
    ("{not json", "not JSON"),
    ('{"kind": "sparse"}', "must be a list"),
    ('{"kind": "sparse", "layers": [0, 9]}', r"\[0, 4\)"),
    ('{"kind": "sparse", "layers": [0], "extra": 1}', "must be a list"),
])
def test_bad_values_name_the_problem(raw, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        layer_attention_setting(raw, 4)


@pytest.mark.slow
def test_engine_serves_sparse_layers_and_refuses_bad_options(model_cache_dir, settings):
    settings.PLUMBLINE_DATA_DIR = model_cache_dir
    settings.PLUMBLINE_MODEL = "smollm2-135m-instruct"
    settings.PLUMBLINE_LAYER_ATTENTION = '{"kind": "sparse", "options": {"score": "quest"}, "layers": [2, 3, 29]}'
    import modelcore

    engine = _EngineHolder._build()
    try:
        config = engine.model.config
        assert [config.attention_for(i).kind for i in (0, 2, 3, 4, 29)] == ["dense", "sparse", "sparse", "dense", "sparse"]
        params = modelcore.SamplingParams(temperature=0.0, max_tokens=8)
        sparse_text = engine.submit("The capital of France is", params).wait().text
    finally:
        engine.stop()
    settings.PLUMBLINE_LAYER_ATTENTION = ""
    dense = _EngineHolder._build()
    try:
        dense_text = dense.submit("The capital of France is", params).wait().text
    finally:
        dense.stop()
    assert sparse_text and sparse_text == dense_text  # short prompts stay under the sparse layers' dense threshold

    settings.PLUMBLINE_LAYER_ATTENTION = '{"kind": "sparse", "options": {"top_kk": 8}, "layers": [2]}'
    with pytest.raises(ImproperlyConfigured, match="top_kk"):
        _EngineHolder._build()
