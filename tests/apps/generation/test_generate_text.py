"""apps.generation.model_api.generate_text through both backends: this process's real engine (SmolLM2, CPU), and a
real `modelcore serve` subprocess (PLUMBLINE_BACKEND=openai)."""
import json

import pytest

from apps.generation.model_api import generate_text

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True, params=["inproc", "openai"])
def backend(request):
    """Every test runs once per backend."""
    if request.param == "openai":
        request.getfixturevalue("openai_backend")
    return request.param


def test_choices_constrain_the_output(model_cache_dir):
    result = generate_text(prompt="Rate the stock: buy, hold or sell?", choices=("buy", "hold", "sell"), max_tokens=8)
    assert result.finish_reason == "stop", result
    assert result.text in ("buy", "hold", "sell")
    assert result.prompt_tokens > 5 and result.completion_tokens >= 1


def test_json_schema_output_parses(model_cache_dir):
    schema = {
        "type": "object",
        "properties": {"rating": {"enum": ["buy", "hold", "sell"]}, "target": {"type": "number"}},
        "required": ["rating", "target"],
        "additionalProperties": False,
    }
    result = generate_text(prompt="Give a rating and a target price as JSON.", json_schema=schema, max_tokens=40)
    data = json.loads(result.text)
    assert data["rating"] in ("buy", "hold", "sell") and isinstance(data["target"], int | float)


def test_on_text_false_cancels_and_streams_growing_text(model_cache_dir):
    seen = []

    def on_text(text):
        seen.append(text)
        return len(seen) < 3

    result = generate_text(prompt="Write a long story about a river.", max_tokens=64, on_text=on_text)
    assert result.finish_reason == "cancelled"
    assert len(seen) == 3 and seen[0] and seen[1].startswith(seen[0]) and seen[2].startswith(seen[1])
    assert result.completion_tokens < 64


def test_prompt_too_long_is_an_error_result(model_cache_dir):
    result = generate_text(prompt="word " * 20000, max_tokens=4)
    assert result.finish_reason == "error" and "more than the context" in result.error, result
