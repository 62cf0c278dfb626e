"""`python -m modelcore serve` as a real subprocess, spoken to with the official `openai` client.

One server per module (SmolLM2 from the converted cache, context 512, the shipped finance demo adapter); its
greedy tokens are compared with an in-process Engine over the same checkpoint.
"""
from __future__ import annotations

import json
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path

import jsonschema
import pytest

from tests.serve_process import ServeProcess

openai = pytest.importorskip("openai")

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
FINANCE_ADAPTER = REPO / "data" / "adapters" / "finance" / "adapter"
API_KEY = "test-serve-key-0123456789"
MODEL = "smollm2"
MAX_SEQ_LEN = 512
MAX_BODY = 64 * 1024
PROMPT = "The three main financial statements of a company are"


@pytest.fixture(scope="module")
def server(smollm2_dir, tmp_path_factory):
    proc = ServeProcess(smollm2_dir, log_path=tmp_path_factory.mktemp("serve") / "serve.log", api_key=API_KEY,
                        model_name=MODEL, adapters={"finance": FINANCE_ADAPTER},
                        args=("--max-seq-len", str(MAX_SEQ_LEN), "--max-batch-size", "4", "--max-adapters", "2",
                              "--max-body-bytes", str(MAX_BODY)))
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.url, api_key=API_KEY, max_retries=0, timeout=60)


@pytest.fixture(scope="module")
def engine(smollm2_dir):
    """The in-process reference: the same checkpoint, context and adapter in a modelcore Engine."""
    from modelcore import Engine, load_model, load_tokenizer

    return Engine(load_model(smollm2_dir), load_tokenizer(smollm2_dir), max_batch_size=1, max_seq_len=MAX_SEQ_LEN,
                  max_adapters=1)


def reference(engine, prompt, *, max_tokens, adapter=None):
    from modelcore import SamplingParams

    handle = engine.submit(prompt, SamplingParams(temperature=0.0, max_tokens=max_tokens),
                           adapter=None if adapter is None else ("finance", str(adapter)))
    while not handle.done:
        engine.step()
    return handle.wait()


def raw(server, path, body: bytes | None = None, *, token: str | None = API_KEY):
    """(status, parsed JSON or text) of a request without the openai client."""
    request = urllib.request.Request(f"{server.root}{path}", data=body, method="POST" if body is not None else "GET")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, payload = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, payload = exc.code, exc.read()
    try:
        return status, json.loads(payload)
    except ValueError:
        return status, payload.decode()


# ------------------------------------------------------------------------------------------- generation
def test_models_list_the_base_model_and_the_adapters(client):
    models = {m.id: m for m in client.models.list().data}
    assert set(models) == {MODEL, "finance"}
    assert models["finance"].parent == MODEL and models[MODEL].parent is None


def test_completion_greedy_tokens_equal_the_in_process_engine(client, engine):
    ref = reference(engine, PROMPT, max_tokens=12)
    out = client.completions.create(model=MODEL, prompt=PROMPT, max_tokens=12, temperature=0,
                                    extra_body={"return_token_ids": True})
    choice = out.choices[0]
    assert choice.token_ids == ref.token_ids
    assert choice.text == ref.text and choice.finish_reason == "length"
    assert (out.usage.prompt_tokens, out.usage.completion_tokens) == (ref.prompt_tokens, 12)
    assert out.usage.total_tokens == ref.prompt_tokens + 12


def test_adapter_as_model_name_equals_the_in_process_adapter(client, engine):
    base = reference(engine, PROMPT, max_tokens=12)
    ref = reference(engine, PROMPT, max_tokens=12, adapter=FINANCE_ADAPTER)
    assert ref.token_ids != base.token_ids  # the prompt tells the adapter apart from the base model
    out = client.completions.create(model="finance", prompt=PROMPT, max_tokens=12, temperature=0,
                                    extra_body={"return_token_ids": True})
    assert out.choices[0].token_ids == ref.token_ids and out.model == "finance"


def test_chat_stream_joins_to_the_non_stream_text(client, engine):
    messages = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Name a fruit."}]
    whole = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=10, temperature=0,
                                           extra_body={"return_token_ids": True})
    ref = reference(engine, engine.tokenizer.apply_chat_template(messages), max_tokens=10)
    assert whole.choices[0].token_ids == ref.token_ids and whole.choices[0].message.content == ref.text
    chunks = list(client.chat.completions.create(model=MODEL, messages=messages, max_tokens=10, temperature=0,
                                                 stream=True, stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 1  # really streamed
    assert text == whole.choices[0].message.content
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish == [whole.choices[0].finish_reason]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    assert chunks[-1].usage.prompt_tokens == whole.usage.prompt_tokens == ref.prompt_tokens


def test_a_shared_system_prompt_is_served_from_the_prefix_cache(client, engine):
    system = ("You are an equity research assistant. Use only the facts given. " * 12).strip()
    answers = []
    for question in ("Summarise revenue growth.", "Name the largest risk."):
        messages = [{"role": "system", "content": system}, {"role": "user", "content": question}]
        out = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=8, temperature=0,
                                             extra_body={"return_token_ids": True})
        ref = reference(engine, engine.tokenizer.apply_chat_template(messages), max_tokens=8)  # no prefix cache
        assert out.choices[0].token_ids == ref.token_ids
        answers.append(out.usage)
    cached = answers[1].prompt_tokens_details.cached_tokens
    assert cached >= 128 and cached % 16 == 0 and cached < answers[1].prompt_tokens  # whole blocks of the system
    assert answers[0].prompt_tokens_details.cached_tokens == 0


def test_json_schema_response_format_parses_and_validates(client):
    schema = {"type": "object", "properties": {"rating": {"enum": ["buy", "hold", "sell"]},
                                               "confidence": {"type": "integer", "minimum": 0, "maximum": 100}},
              "required": ["rating", "confidence"], "additionalProperties": False}
    out = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Rate Apple stock as JSON."}], max_tokens=40,
        temperature=0, response_format={"type": "json_schema", "json_schema": {"name": "rating", "schema": schema}})
    assert out.choices[0].finish_reason == "stop"
    jsonschema.validate(json.loads(out.choices[0].message.content), schema)


def test_structured_outputs_choice_and_grammar(client):
    out = client.completions.create(model=MODEL, prompt="Rating (buy, hold or sell):", max_tokens=8, temperature=0,
                                    extra_body={"structured_outputs": {"choice": ["buy", "hold", "sell"]}})
    assert out.choices[0].text in ("buy", "hold", "sell")
    out = client.completions.create(model=MODEL, prompt="A number:", max_tokens=8, temperature=0,
                                    extra_body={"structured_outputs": {"grammar": 'root ::= [1-9] [0-9] "%"'}})
    text = out.choices[0].text
    assert len(text) == 3 and text[0] in "123456789" and text[1].isdigit() and text[2] == "%"


def test_client_disconnect_cancels_the_stream(client, server):
    stream = client.completions.create(model=MODEL, prompt="Once upon a time", max_tokens=500, temperature=0,
                                       stream=True, extra_body={"ignore_eos": True})
    for i, _ in enumerate(stream):
        if i == 2:
            break
    stream.close()
    end = time.monotonic() + 3  # 500 tokens take ~10 s here: the request must end at once
    while time.monotonic() < end and server.health()["running"] != 0:
        time.sleep(0.05)
    assert server.health() == {"status": "ok", "running": 0, "waiting": 0}


# ------------------------------------------------------------------------------------------------ auth
def test_missing_or_wrong_token_is_401_in_openai_shape(server):
    body = json.dumps({"model": MODEL, "prompt": "Hi", "max_tokens": 1}).encode()
    for token in (None, "wrong-key", API_KEY + "x"):
        status, reply = raw(server, "/v1/completions", body, token=token)
        assert status == 401 and reply["error"]["code"] == "invalid_api_key", reply
    assert raw(server, "/v1/models", token=None)[0] == 401
    wrong = openai.OpenAI(base_url=server.url, api_key="wrong-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        wrong.models.list()


def test_metrics_count_requests_and_tokens_behind_the_key(client, server):
    import re

    def scrape() -> dict[str, float]:
        status, text = raw(server, "/metrics")
        assert status == 200, text
        return {m[0]: float(m[1]) for m in re.findall(r"^(plumbline_\S+) (\S+)$", text, re.M)}

    before = scrape()
    out = client.completions.create(model=MODEL, prompt=PROMPT, max_tokens=3, temperature=0)
    after = scrape()
    done = 'plumbline_serve_requests_total{finish_reason="length"}'
    assert after[done] == before.get(done, 0) + 1
    completion = 'plumbline_serve_tokens_total{kind="completion"}'
    assert after[completion] == before.get(completion, 0) + out.usage.completion_tokens == before.get(completion, 0) + 3
    assert after["plumbline_engine_max_batch_size"] == 4 and "plumbline_engine_prefix_cache_bytes" in after
    assert raw(server, "/metrics", token=None)[0] == 401


# ---------------------------------------------------------------------------------------- bad requests
@pytest.mark.parametrize(("kwargs", "param"), [
    ({"n": 2}, "n"),
    ({"max_tokens": -1}, "max_tokens"),
    ({"max_tokens": MAX_SEQ_LEN + 1}, "max_tokens"),
    ({"temperature": "hot"}, "temperature"),
    ({"frequency_penalty": 0.5}, "frequency_penalty"),
    ({"extra_body": {"bogus": 1}}, "bogus"),
    ({"extra_body": {"structured_outputs": {"json": {}, "regex": "a"}}}, "structured_outputs"),
])
def test_bad_input_is_400_naming_the_field(client, kwargs, param):
    args = {"model": MODEL, "prompt": "Hi", "max_tokens": 2, **kwargs}
    with pytest.raises(openai.BadRequestError) as info:
        client.completions.create(**args)
    assert info.value.status_code == 400 and info.value.body["param"] == param, info.value.body


def test_unknown_model_too_long_prompt_and_oversized_body(client, server):
    with pytest.raises(openai.NotFoundError) as info:
        client.completions.create(model="no-such-model", prompt="Hi", max_tokens=2)
    assert info.value.body["code"] == "model_not_found"
    with pytest.raises(openai.BadRequestError) as info:
        client.completions.create(model=MODEL, prompt=" word" * 600, max_tokens=2)
    assert info.value.body["code"] == "context_length_exceeded"
    status, reply = raw(server, "/v1/completions", json.dumps({"model": MODEL, "prompt": "x" * MAX_BODY}).encode())
    assert status == 413 and "larger than" in reply["error"]["message"]
    status, reply = raw(server, "/v1/completions", b"{not json")
    assert status == 400 and "not valid JSON" in reply["error"]["message"]
    # the server still answers after all that
    assert client.completions.create(model=MODEL, prompt="Hi", max_tokens=1).usage.completion_tokens == 1


# -------------------------------------------------------------------------------------- adapter endpoints
def test_load_and_unload_an_adapter_at_runtime(client, server, tmp_path):
    load = json.dumps({"lora_name": "fin2", "lora_path": str(FINANCE_ADAPTER)}).encode()
    assert raw(server, "/v1/load_lora_adapter", load, token=None)[0] == 401
    status, reply = raw(server, "/v1/load_lora_adapter", load)
    assert status == 200 and "fin2" in reply
    assert raw(server, "/v1/load_lora_adapter", load)[0] == 200  # the same again: idempotent
    assert "fin2" in {m.id for m in client.models.list().data}
    args = {"prompt": PROMPT, "max_tokens": 6, "temperature": 0, "extra_body": {"return_token_ids": True}}
    assert (client.completions.create(model="fin2", **args).choices[0].token_ids
            == client.completions.create(model="finance", **args).choices[0].token_ids)

    status, reply = raw(server, "/v1/unload_lora_adapter", json.dumps({"lora_name": "fin2"}).encode())
    assert status == 200
    assert "fin2" not in {m.id for m in client.models.list().data}
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model="fin2", prompt="Hi", max_tokens=1)
    assert raw(server, "/v1/unload_lora_adapter", json.dumps({"lora_name": "fin2"}).encode())[0] == 404

    pickled = tmp_path / "pickled"
    pickled.mkdir()
    shutil.copy(FINANCE_ADAPTER / "adapter_config.json", pickled)
    (pickled / "adapter_model.bin").write_bytes(b"\x80\x04not read")
    status, reply = raw(server, "/v1/load_lora_adapter",
                        json.dumps({"lora_name": "evil", "lora_path": str(pickled)}).encode())
    assert status == 400 and reply["error"]["param"] == "lora_path" and "pickle" in reply["error"]["message"]
    for body, param in (({"lora_name": "bad name!", "lora_path": str(FINANCE_ADAPTER)}, "lora_name"),
                        ({"lora_name": "x", "lora_path": str(tmp_path / "missing")}, "lora_path"),
                        ({"lora_name": MODEL, "lora_path": str(FINANCE_ADAPTER)}, "lora_name")):
        status, reply = raw(server, "/v1/load_lora_adapter", json.dumps(body).encode())
        assert status == 400 and reply["error"]["param"] == param, reply
