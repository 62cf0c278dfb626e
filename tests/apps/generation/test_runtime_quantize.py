"""PLUMBLINE_QUANTIZE: gpu workers serve the model weight-only quantized (modelcore/quant.py)."""
from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from apps.generation.runtime import _EngineHolder, quantize_setting


def test_allowed_values():
    assert quantize_setting("", 64) == (None, 64)
    assert quantize_setting(" int8 ", 48) == ("int8", 48)  # the group size only matters for int4
    assert quantize_setting("int4", 128) == ("int4", 128)


@pytest.mark.parametrize("raw, group_size, message", [
    ("int3", 64, "PLUMBLINE_QUANTIZE='int3'"),
    ("INT8", 64, "PLUMBLINE_QUANTIZE='INT8'"),
    ("int4", 48, "PLUMBLINE_QUANTIZE_GROUP_SIZE=48"),
])
def test_bad_values_name_the_setting(raw, group_size, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        quantize_setting(raw, group_size)


@pytest.mark.slow
def test_engine_serves_the_quantized_model(model_cache_dir, settings):
    import modelcore
    from modelcore.quant import Int8Linear

    settings.PLUMBLINE_DATA_DIR = model_cache_dir
    settings.PLUMBLINE_MODEL = "smollm2-135m-instruct"
    settings.PLUMBLINE_QUANTIZE = "int8"
    engine = _EngineHolder._build()
    try:
        assert isinstance(engine.model.lm_head, Int8Linear)
        assert isinstance(engine.model.model.layers[0].mlp.down_proj.base, Int8Linear)  # under the LoRA bank
        params = modelcore.SamplingParams(temperature=0.0, max_tokens=8)
        text = engine.submit("The capital of France is", params).wait().text
    finally:
        engine.stop()
    assert text.strip()  # served end to end through the quantized base under the LoRA bank


def test_device_setting_reads_the_allow_list():
    import torch

    from apps.generation.runtime import device_setting

    assert device_setting("cpu", "auto") == (torch.device("cpu"), torch.float32)
    assert device_setting("cpu", "bf16") == (torch.device("cpu"), torch.bfloat16)
    with pytest.raises(ImproperlyConfigured, match="PLUMBLINE_DEVICE: device 'tpu'"):
        device_setting("tpu", "auto")
    with pytest.raises(ImproperlyConfigured, match="PLUMBLINE_DTYPE: dtype 'float8'"):
        device_setting("cpu", "float8")
