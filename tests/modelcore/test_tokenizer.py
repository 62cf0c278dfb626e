"""modelcore.tokenizer on the converted SmolLM2 tokenizer, against transformers' tokenizer built from the same
GGUF; chat templates in the sandbox; streaming detokenisation."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from modelcore.tokenizer import (
    ChatTemplateError,
    StreamDecoder,
    Tokenizer,
    compile_chat_template,
    load_tokenizer,
)

REPO = Path(__file__).resolve().parents[2]

TEXTS = [
    "Hello world",
    "",
    " ",
    "12345 + 678 = 9023, 3.14159e-10, 0x1F, 1,000,000.00",
    "   leading and   inner runs\t\ttabs\n\n\nnewlines  \r\n trailing   ",
    "héllo wörld ñ ç ß Ångström naïve café",
    "日本語のテキスト 中文 한국어 русский текст ελληνικά עברית العربية",
    "emoji 😀👍🏽 family 👨‍👩‍👧 flags 🇫🇷 ♥",
    "def f(x):\n    return x**2  # comment\n\tif a != b: {'k': [1, 2]}\n",
    'fn main() { println!("{}", a.iter().map(|x| x * 2).sum::<i32>()); }',
    "<|im_start|>user\nhi<|im_end|>\n<|endoftext|>",
    "<file_sep><repo_name>plumbline <jupyter_code>x = 1",
    "I'm can't we'll they've she'd YOU'RE it's",
    "$1,234.56 vs €7 — «quotes» “smart” ‘single’ … • ©®™",
    "\u200b\u00a0zero width and nbsp",
    "a" * 200,
    "1" * 40,
]
MESSAGES = [
    {"role": "user", "content": "What is 2+2?"},
    {"role": "assistant", "content": "4"},
    {"role": "user", "content": "And 3+3? Ünïcödé 😀\n  with   spaces"},
]


def test_basic_properties(smollm2_tokenizer):
    tok = smollm2_tokenizer
    assert tok.vocab_size == 49152
    assert tok.bos_token_id == 1 and tok.id_to_token(1) == "<|im_start|>"
    assert tok.eos_token_ids == {2} and tok.id_to_token(2) == "<|im_end|>"
    assert tok.encode("<|im_end|>") == [2]
    assert tok.encode("hi", add_special_tokens=True) == tok.encode("hi")  # this model adds no BOS


@pytest.mark.parametrize("text", TEXTS)
def test_encode_decode_match_transformers_gguf_tokenizer(smollm2_tokenizer, hf_gguf_tokenizer, text):
    ids = smollm2_tokenizer.encode(text)
    assert ids == hf_gguf_tokenizer(text, add_special_tokens=False).input_ids
    assert smollm2_tokenizer.decode(ids, skip_special_tokens=False) == text
    for skip in (True, False):
        assert smollm2_tokenizer.decode(ids, skip_special_tokens=skip) == hf_gguf_tokenizer.decode(
            ids, skip_special_tokens=skip
        )


@pytest.mark.parametrize("text", ["x² ½ ①", "٣٤ ten ⅻ", "10²³ + ¾"])
def test_every_numeric_character_is_its_own_pre_token(smollm2_tokenizer, text):
    """The GGUF says tokenizer.ggml.pre = "smollm": llama.cpp splits every \\p{N} character off before GPT-2's
    regex (so " ½" is "Ġ" + "½"). transformers 5.24 has no "smollm" entry and keeps GPT-2's ` ?\\p{N}+`, so it
    differs from llama.cpp on non-ASCII numerals like these (ASCII digits agree: the vocabulary has no merges
    across them). We follow llama.cpp."""
    tok = smollm2_tokenizer
    pieces = [tok.backend.decoder.decode([p]) for p, _ in tok.backend.pre_tokenizer.pre_tokenize_str(text)]
    assert "".join(pieces) == text
    assert all(len(p) == 1 for p in pieces if any(c.isnumeric() for c in p)), pieces
    assert tok.decode(tok.encode(text)) == text
    assert tok.encode(" ½") == [tok.token_to_id("Ġ"), *tok.encode("½")]


@pytest.mark.parametrize("with_system", [False, True])
@pytest.mark.parametrize("add_generation_prompt", [True, False])
def test_chat_template_matches_transformers(
    smollm2_tokenizer, hf_gguf_tokenizer, with_system, add_generation_prompt
):
    messages = ([{"role": "system", "content": "Be terse."}] if with_system else []) + MESSAGES
    ours = smollm2_tokenizer.apply_chat_template(messages, add_generation_prompt=add_generation_prompt)
    ref = hf_gguf_tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=add_generation_prompt
    )
    assert ours == ref
    assert smollm2_tokenizer.encode(ours) == hf_gguf_tokenizer(ref, add_special_tokens=False).input_ids
    assert ours.endswith("<|im_start|>assistant\n") is add_generation_prompt
    assert ("You are a helpful AI assistant named SmolLM" in ours) is not with_system


def test_chat_template_output_for_one_user_message(smollm2_tokenizer):
    text = smollm2_tokenizer.apply_chat_template([{"role": "user", "content": "Hi"}])
    assert text == (
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    )
    ids = smollm2_tokenizer.encode(text)
    assert ids[0] == 1 and ids.count(1) == 3 and ids.count(2) == 2


# --------------------------------------------------------------------------------------- sandboxed templates
def _tiny_tokenizer(template: str | None) -> Tokenizer:
    from tokenizers import Tokenizer as Backend
    from tokenizers import models

    backend = Backend(models.WordLevel({"<s>": 0, "</s>": 1, "[UNK]": 2}, unk_token="[UNK]"))
    return Tokenizer(
        backend, chat_template=template, special_tokens={"bos_token": "<s>", "eos_token": "</s>"}
    )


def test_template_sees_special_tokens_helpers_and_extra_arguments():
    tok = _tiny_tokenizer(
        "{{ bos_token }}{% for m in messages %}{% if m.role == 'tool' %}{{ raise_exception('no tools: ' + m.content) }}"
        "{% endif %}{{ m | tojson }}{% endfor %}{{ tools | tojson }}{% if add_generation_prompt %}>{% endif %}"
        "{{ eos_token }}"
    )
    text = tok.apply_chat_template([{"role": "user", "content": "<a & b>"}], tools=[{"name": "x"}])
    assert (
        text == '<s>{"role": "user", "content": "<a & b>"}[{"name": "x"}]></s>'
    )  # tojson does not escape HTML
    with pytest.raises(ChatTemplateError, match="no tools: t"):
        tok.apply_chat_template([{"role": "tool", "content": "t"}])


def test_template_trims_blocks_like_hf():
    # trim_blocks drops the newline after a block tag, lstrip_blocks the indentation before one
    tok = _tiny_tokenizer(
        "{% for m in messages %}\n    {% if m.content %}{{ m.content }};{% endif %}\n{% endfor %}"
    )
    assert (
        tok.apply_chat_template([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}])
        == "a;b;"
    )


@pytest.mark.parametrize(
    "template",
    [
        "{{ messages.append({'role': 'x'}) }}",  # mutating the caller's data
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",  # reaching Python internals
        "{{ messages[0].update({'content': 'pwned'}) }}",
    ],
)
def test_template_runs_in_an_immutable_sandbox(template):
    messages = [{"role": "user", "content": "hi"}]
    with pytest.raises(ChatTemplateError):
        _tiny_tokenizer(template).apply_chat_template(messages)
    assert messages == [{"role": "user", "content": "hi"}]


def test_template_errors_are_chat_template_errors():
    with pytest.raises(ChatTemplateError, match="compile"):
        compile_chat_template("{% for %}")
    with pytest.raises(ChatTemplateError, match="no chat template"):
        _tiny_tokenizer(None).apply_chat_template([{"role": "user", "content": "x"}])
    with pytest.raises(ValueError):
        _tiny_tokenizer("x").apply_chat_template({"role": "user", "content": "x"})


# ----------------------------------------------------------------------------------------------- streaming
STREAM_TEXTS = [
    "héllo wörld — 日本語のテキスト 😀👍🏽 👨‍👩‍👧 🇫🇷 done.",
    "emoji only: 🤖🧠🦾🛰️",
    "<|im_start|>assistant\nΚαλημέρα! 你好<|im_end|>",
]


@pytest.mark.parametrize("text", STREAM_TEXTS)
@pytest.mark.parametrize("skip_special_tokens", [True, False])
def test_stream_decoder_deltas_concatenate_to_decode(smollm2_tokenizer, text, skip_special_tokens):
    tok = smollm2_tokenizer
    ids = tok.encode(text)
    assert any(len(tok.decode([i])) and "\ufffd" in tok.decode([i]) for i in ids)  # some token splits a char
    stream = StreamDecoder(tok, skip_special_tokens=skip_special_tokens)
    deltas = [stream.feed(i) for i in ids]
    tail = stream.finish()
    assert "".join(deltas) + tail == tok.decode(ids, skip_special_tokens=skip_special_tokens)
    assert tail == ""  # the text ends on a whole character: everything was released by feed()
    assert all("\ufffd" not in d for d in deltas)  # never half a character
    assert stream.ids == ids


def test_stream_decoder_in_chunks_and_on_random_ids(smollm2_tokenizer):
    tok = smollm2_tokenizer
    rng = random.Random(0)
    text_ids = tok.encode(STREAM_TEXTS[0])
    sequences = [text_ids] + [
        [rng.randrange(tok.vocab_size) for _ in range(rng.randrange(1, 40))] for _ in range(30)
    ]
    # byte tokens only: lone continuation bytes and truncated characters, decoded as U+FFFD
    byte_ids = [i for i in range(tok.vocab_size) if len(tok.id_to_token(i)) == 1]
    sequences += [[rng.choice(byte_ids) for _ in range(rng.randrange(1, 20))] for _ in range(30)]
    for ids in sequences:
        stream = tok.stream_decoder()
        out, pos = [], 0
        while pos < len(ids):
            step = rng.randrange(1, 4)
            out.append(stream.feed(ids[pos : pos + step]))
            pos += step
        out.append(stream.finish())
        assert "".join(out) == tok.decode(ids), ids


# ------------------------------------------------------------------------------------------------- loading
def test_load_tokenizer_by_name_uses_the_cache(smollm2_dir, test_data_dir):
    tok = load_tokenizer("smollm2-135m-instruct", cache_dir=test_data_dir)
    assert tok.encode("Hello world") == load_tokenizer(smollm2_dir).encode("Hello world")


def test_load_tokenizer_rejects_unknown_names(tmp_path):
    with pytest.raises(FileNotFoundError, match="known name"):
        load_tokenizer("no-such-tokenizer")
    with pytest.raises(FileNotFoundError, match="tokenizer.json"):
        load_tokenizer(tmp_path)


def test_loading_never_imports_transformers(smollm2_dir):
    code = (
        "import sys; from modelcore.tokenizer import load_tokenizer; "
        "t = load_tokenizer(sys.argv[1]); t.apply_chat_template([{'role': 'user', 'content': 'x'}]); "
        "assert 'transformers' not in sys.modules, 'transformers was imported'"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-c", code, str(smollm2_dir)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
