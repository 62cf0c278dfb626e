"""Constrained decoding with xgrammar on SmolLM2: JSON schemas (sampled at temperature 1, several seeds),
choices and regexes always produce conforming output; grammar compilation, caching and errors; the batched
masks and sampling pick the tokens the row-by-row reference picks."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest
import torch

from modelcore.checkpoint import load_model
from modelcore.engine import Engine, SamplingParams
from modelcore.structured import BatchBitmask, GrammarError, Grammars, choices_ebnf, grammar_key

SCHEMAS = [
    {
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 24},
            "age": {"type": "integer", "minimum": 0, "maximum": 120},
        },
        "required": ["name", "age"],
    },
    {
        "type": "object",
        "properties": {
            "city": {"type": "string", "maxLength": 20},
            "sunny": {"type": "boolean"},
            "temperature": {"type": "number"},
            "unit": {"enum": ["C", "F"]},
        },
        "required": ["city", "sunny", "temperature", "unit"],
    },
    {
        "type": "object",
        "properties": {
            "tags": {"type": "array", "items": {"type": "string", "maxLength": 12}, "minItems": 1, "maxItems": 3},
            "priority": {"type": "integer", "minimum": 1, "maximum": 5},
        },
        "required": ["tags", "priority"],
    },
]


@pytest.fixture(scope="module")
def engine(smollm2_dir, smollm2_tokenizer):
    return Engine(load_model(smollm2_dir), smollm2_tokenizer, max_batch_size=8)


def chat(tokenizer, text: str) -> str:
    return tokenizer.apply_chat_template([{"role": "user", "content": text}])


def test_tokenizer_info_is_byte_level(engine, smollm2_tokenizer):
    import xgrammar as xgr

    grammars = Grammars(smollm2_tokenizer, engine.config.vocab_size)
    assert grammars.info.vocab_type == xgr.VocabType.BYTE_LEVEL
    assert grammars.info.vocab_size == engine.config.vocab_size
    assert set(grammars.info.stop_token_ids) == set(smollm2_tokenizer.eos_token_ids)


def test_json_schema_outputs_parse_and_validate(engine, smollm2_tokenizer):
    prompt = chat(smollm2_tokenizer, "Describe something as a JSON object.")
    handles = [
        (schema, engine.submit(prompt, SamplingParams(temperature=1.0, seed=seed, max_tokens=100, json_schema=schema)))
        for schema in SCHEMAS
        for seed in (0, 1)
    ]
    engine.run_until_idle()
    outputs = set()
    for schema, h in handles:
        c = h.wait(0)
        assert c.finish_reason == "stop", (c.finish_reason, c.text, c.error)
        jsonschema.validate(json.loads(c.text), schema)
        outputs.add(c.text)
    assert len(outputs) > len(SCHEMAS)  # different seeds sampled different objects


def test_choices_and_regex(engine, smollm2_tokenizer):
    prompt = chat(smollm2_tokenizer, "Is the sky blue? Answer and give a code.")
    choices = ("yes", "no", "it depends")
    pattern = r"[A-Z]{2}-[0-9]{3}( \(ok\))?"
    hs = [engine.submit(prompt, SamplingParams(temperature=1.0, seed=s, max_tokens=20, choices=choices))
          for s in range(4)]
    hr = [engine.submit(prompt, SamplingParams(temperature=1.0, seed=s, max_tokens=30, regex=pattern))
          for s in range(4)]
    engine.run_until_idle()
    for h in hs:
        c = h.wait(0)
        assert c.finish_reason == "stop" and c.text in choices
    for h in hr:
        c = h.wait(0)
        assert c.finish_reason == "stop" and re.fullmatch(pattern, c.text), c.text


def test_grammar_cache_and_errors(engine, smollm2_tokenizer):
    grammars = Grammars(smollm2_tokenizer, engine.config.vocab_size)
    p = SamplingParams(json_schema=SCHEMAS[0])
    assert grammars.compile(p) is grammars.compile(SamplingParams(json_schema=json.loads(json.dumps(SCHEMAS[0]))))
    assert grammars.compile(SamplingParams()) is None and grammar_key(SamplingParams()) is None
    assert grammar_key(SamplingParams(choices=("a",))) != grammar_key(SamplingParams(regex="a"))
    assert choices_ebnf(("a", 'b"c')) == 'root ::= "a" | "b\\"c"'
    with pytest.raises(GrammarError):
        grammars.compile(SamplingParams(regex="(unclosed"))
    with pytest.raises(ValueError):  # GrammarError is a ValueError: raised at submit, nothing queued
        engine.submit("x", SamplingParams(json_schema={"type": "no-such-type"}))
    assert engine.num_waiting == 0


# --- batched masks and sampling against the row-by-row reference -------------------------------------------
EBNF = 'root ::= "The " word (" and " word)* "."\nword ::= [a-z]+'
MIXED = [  # constrained / free x greedy / sampled, a repetition penalty
    SamplingParams(temperature=0, max_tokens=10, ignore_eos=True),
    SamplingParams(temperature=1.0, seed=3, max_tokens=10, ignore_eos=True),
    SamplingParams(temperature=0, max_tokens=10, json_schema=SCHEMAS[1]),
    SamplingParams(temperature=1.0, top_p=0.9, seed=4, max_tokens=10, regex=r"[A-Z]{2}-[0-9]{3}( \(ok\))?"),
    SamplingParams(temperature=0.8, top_k=20, seed=5, max_tokens=10, json_schema=SCHEMAS[2]),
    SamplingParams(temperature=1.0, seed=6, max_tokens=10, choices=("yes", "no", "it depends")),
    SamplingParams(temperature=0, repetition_penalty=1.3, max_tokens=10, grammar=EBNF),
]


def test_batch_bitmask_equals_each_rows_mask(engine, smollm2_tokenizer):
    vocab = engine.config.vocab_size
    states = [engine._grammar_state(p) if p.constrained else None for p in MIXED]  # the engine's compiled grammars
    g = torch.Generator().manual_seed(1)
    for _ in range(4):  # one matcher part-way through its object
        states[2].accept(int(states[2].mask_(torch.randn(vocab, generator=g)).argmax()))
    logits = torch.randn(len(states), vocab, generator=torch.Generator().manual_seed(0))
    batch = BatchBitmask(8, vocab).apply_(logits.clone(), states)
    rows = torch.stack([s.mask_(logits[r].clone()) if s is not None else logits[r] for r, s in enumerate(states)])
    assert torch.equal(batch, rows)
    assert torch.equal(batch[0], logits[0]) and torch.isinf(batch[2]).sum() > vocab // 2
    assert BatchBitmask(8, vocab).apply_(logits[:2].clone(), [None, None]).equal(logits[:2])


def test_batched_sampling_equals_the_row_by_row_engine(engine, smollm2_tokenizer):
    """One batch of mixed requests (two join a step later, so rows prefill while others decode): the batched
    engine emits exactly the tokens of the eager engine, request by request."""
    prompts = [chat(smollm2_tokenizer, t) for t in ("Name a city.", "Describe the weather as JSON.",
                                                     "Tag this: quick brown fox.", "Is the sky blue?")]
    outputs = []
    try:
        for eager in (False, True):
            engine.eager_sampling = eager
            handles = [engine.submit(prompts[i % len(prompts)], p) for i, p in enumerate(MIXED[:5])]
            engine.step()
            handles += [engine.submit(prompts[i % len(prompts)], p) for i, p in enumerate(MIXED[5:])]
            engine.run_until_idle()
            outputs.append([h.wait(0) for h in handles])
    finally:
        engine.eager_sampling = False
    for batched, reference in zip(*outputs, strict=True):
        assert batched.error is None and batched.token_ids == reference.token_ids, (batched.text, reference.text)
    assert outputs[0][5].text in ("yes", "no", "it depends")


# --- JSON-schema patterns (the ICD-10 code pattern once let "A1259" through) ---------------------------------
ICD_PATTERN = r"^[A-Z][0-9]{2}(\.[0-9A-Z]{1,4})?$"


@pytest.mark.parametrize("pattern,good,bad", [
    (ICD_PATTERN, ["I10", "R07.9", "S93.401A", "J45.909"], ["A1259", "A12X9", "R079", "i10", "R07.", "R07.91234"]),
    (r"^x(ab{1,2})?$", ["x", "xab", "xabb"], ["xb", "xbb", "xa"]),
    (r"^x(ab+)?$", ["x", "xab", "xabbb"], ["xb", "xbbb"]),
    (r"^(a(b{1,3})?)?c$", ["c", "ac", "abc", "abbbc"], ["bc", "bbc"]),
])
def test_schema_patterns_are_enforced(grammar_accepts, pattern, good, bad):
    schema = {"type": "object", "properties": {"code": {"type": "string", "pattern": pattern}},
              "required": ["code"], "additionalProperties": False}

    def accepts(value: str) -> bool:
        return grammar_accepts(json.dumps({"code": value}, separators=(", ", ": ")), json_schema=schema)

    for value in good:
        assert accepts(value), value
    for value in bad:
        assert not accepts(value), value


def test_optional_group_rewrite_keeps_escapes_and_classes():
    from modelcore.structured import regex_group_optional_bounded, schema_patterns_fixed

    assert regex_group_optional_bounded(ICD_PATTERN) == r"^[A-Z][0-9]{2}(\.[0-9A-Z]{1,4}){0,1}$"
    assert regex_group_optional_bounded(r"a\)?[)?](b)??") == r"a\)?[)?](b){0,1}?"
    assert regex_group_optional_bounded(r"[]?)](c)?") == r"[]?)](c){0,1}"
    schema = {"properties": {"p": {"pattern": "(a)?"}, "pattern": {"type": "string"}}, "enum": ["(a)?"]}
    assert schema_patterns_fixed(schema) == {"properties": {"p": {"pattern": "(a){0,1}"},
                                                            "pattern": {"type": "string"}}, "enum": ["(a)?"]}
