"""Our Transformer on the real SmolLM2-135M-Instruct weights against transformers reading the same GGUF."""

from __future__ import annotations

import pytest
import torch

import modelcore

pytestmark = pytest.mark.slow

PROMPTS = ["The capital of France is", "def fibonacci(n):\n"]
EOS = 2  # <|im_end|>: transformers' generate stops after it


@pytest.fixture(scope="module")
def our_model(smollm2_dir, test_data_dir):
    return modelcore.load_model("smollm2-135m-instruct", cache_dir=test_data_dir, dtype=torch.float32)


@pytest.fixture(scope="module")
def prompt_ids(hf_gguf_tokenizer):
    chat = hf_gguf_tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}],
        tokenize=False,
        add_generation_prompt=True,
    )
    return [hf_gguf_tokenizer(p, add_special_tokens=False).input_ids for p in [*PROMPTS, chat]]


def our_greedy(model, ids: list[int], n: int = 24) -> list[int]:
    """Greedy with our forward and no cache: the whole sequence each step, positions 0..T-1."""
    seq = torch.tensor([ids])
    out: list[int] = []
    with torch.no_grad():
        for _ in range(n):
            positions = torch.arange(seq.shape[1])[None, :]
            nxt = int(model(seq, positions)[0, -1].argmax())
            out.append(nxt)
            if nxt == EOS:
                break
            seq = torch.cat([seq, torch.tensor([[nxt]])], dim=1)
    return out


def hf_greedy(model, ids: list[int], n: int = 24) -> list[int]:
    x = torch.tensor([ids])
    with torch.no_grad():
        out = model.generate(
            x, attention_mask=torch.ones_like(x), max_new_tokens=n, do_sample=False, pad_token_id=EOS
        )
    return out[0, len(ids) :].tolist()


def test_config_and_tied_weights(our_model):
    assert our_model.config == modelcore.ModelConfig.from_name("smollm2-135m-instruct")
    assert our_model.lm_head.weight is our_model.model.embed_tokens.weight


def test_logits_close_to_transformers_gguf(our_model, hf_gguf_model, prompt_ids):
    ids = torch.tensor([prompt_ids[-1]])  # the chat prompt
    with torch.no_grad():
        ours = our_model(ids, torch.arange(ids.shape[1])[None, :])
        ref = hf_gguf_model(ids).logits
    diff = (ours - ref).abs().max().item()
    print(f"max |logits ours - transformers| = {diff:.3g} over {ids.shape[1]} positions")
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-4)


def test_greedy_tokens_equal_transformers_gguf(our_model, hf_gguf_model, prompt_ids, hf_gguf_tokenizer):
    for ids in prompt_ids:
        tokens = our_greedy(our_model, ids)
        assert tokens == hf_greedy(hf_gguf_model, ids), hf_gguf_tokenizer.decode(ids)
        print(f"{hf_gguf_tokenizer.decode(ids)[-30:]!r} -> {hf_gguf_tokenizer.decode(tokens)!r}")
