"""Weight-only quantization on SmolLM2-135M-Instruct: decode speed, weight bytes and quality (not a test).

Systems: float32; int8 per-channel; int4 group-wise (g32, g64, g128), all with bfloat16 kernel activations
(modelcore.quant's default on CPU); and int8 with float32 kernel activations, to show why that default.
Each is the float32 model from the converted checkpoint, copied and quantized (`quantize_s` is that step).

- decode: batch-1 greedy decode tokens/s through the Engine (prompt 128 tokens, EOS ignored), rounds
  interleaved across systems, median of `--rounds` (>= 3);
- bytes: weight bytes the linear layers read per decoded token, and resident parameter + buffer bytes;
- quality: mean next-token NLL and perplexity over the first `--tokens` tokens of the fixed long text of
  bench/longtext.py (Python's reference documentation), one forward pass.

    .venv/bin/python bench/quant.py                 # 3 rounds, 1024 NLL tokens
    .venv/bin/python bench/quant.py --rounds 5 --tokens 4096
Writes bench/results/quant.json.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from bench.longtext import describe_text, reference_text, token_nll  # noqa: E402
from modelcore.checkpoint import load_model  # noqa: E402
from modelcore.engine import Engine, SamplingParams  # noqa: E402
from modelcore.gguf_import import ensure_smollm2  # noqa: E402
from modelcore.quant import quantize_model, weight_bytes  # noqa: E402
from modelcore.tokenizer import load_tokenizer  # noqa: E402

# name -> (mode, group size, kernel activation dtype)
SYSTEMS = {
    "float32": (None, None, None),
    "int8": ("int8", None, torch.bfloat16),
    "int4-g32": ("int4", 32, torch.bfloat16),
    "int4-g64": ("int4", 64, torch.bfloat16),
    "int4-g128": ("int4", 128, torch.bfloat16),
    "int8-fp32act": ("int8", None, None),
}

# int8-fp32act is opt-in: its scalar kernel makes the 1024-token NLL pass take minutes on this CPU.
DEFAULT_SYSTEMS = ["float32", "int8", "int4-g32", "int4-g64", "int4-g128"]


def decode_tokens_per_s(model, n_tokens: int) -> float:
    engine = Engine(model, None, max_batch_size=1)
    prompt = list(range(1000, 1128))
    c = engine.generate(prompt, SamplingParams(temperature=0, max_tokens=n_tokens, ignore_eos=True))
    return (c.completion_tokens - 1) / (c.timings["total_s"] - c.timings["ttft_s"])


@torch.inference_mode()
def mean_nll(model, ids: torch.Tensor) -> float:
    hidden = model.model(ids, torch.arange(ids.shape[1])[None], None, None)  # (1, T, C)
    return float(token_nll(model.lm_head, hidden, ids, chunk=256).double().mean())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--decode-tokens", type=int, default=48)
    parser.add_argument("--tokens", type=int, default=1024, help="tokens of the long text for the NLL")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--systems", default=",".join(DEFAULT_SYSTEMS), help="comma-separated subset of " + ",".join(SYSTEMS)
    )
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "quant.json")
    args = parser.parse_args()
    if args.rounds < 3:
        parser.error("--rounds must be >= 3 (medians)")
    names = args.systems.split(",")
    unknown = [n for n in names if n not in SYSTEMS]
    if unknown:
        parser.error(f"unknown systems {unknown}; known: {', '.join(SYSTEMS)}")
    torch.set_num_threads(args.threads)

    directory = ensure_smollm2(REPO / "var" / "test-cache")
    t0 = time.perf_counter()
    base = load_model(directory)
    load_s = time.perf_counter() - t0
    tokenizer = load_tokenizer(directory)
    text = reference_text()
    ids = torch.tensor([tokenizer.encode(text[: args.tokens * 8])[: args.tokens]])  # (1, T)

    models, rows = {}, {}
    for name in names:
        mode, group, compute = SYSTEMS[name]
        t0 = time.perf_counter()
        model = base if mode is None else quantize_model(
            copy.deepcopy(base), mode, group or 64, compute_dtype=compute
        )
        quantize_s = time.perf_counter() - t0
        decode_tokens_per_s(model, 4)  # warm up: first-call packing and casts happen here
        nll = mean_nll(model, ids)
        sizes = weight_bytes(model)
        models[name] = model
        rows[name] = {
            "mode": mode or "float32",
            "group_size": group,
            "kernel_activations": str(compute).removeprefix("torch.") if mode else None,
            "quantize_s": round(quantize_s, 2),
            "linear_weight_bytes_per_token": sizes["linear"],
            "resident_bytes": sizes["total"],
            "mean_nll": round(nll, 4),
            "perplexity": round(float(torch.exp(torch.tensor(nll))), 3),
            "decode_tokens_per_s_runs": [],
        }
        print(f"{name}: quantize {quantize_s:.1f}s, NLL {nll:.4f}", flush=True)

    def write(rounds_done: int) -> None:
        ref = rows.get("float32")
        for row in rows.values():
            row["decode_tokens_per_s"] = statistics.median(row["decode_tokens_per_s_runs"])
            if ref:
                row["speedup_vs_float32"] = round(row["decode_tokens_per_s"] / ref["decode_tokens_per_s"], 2)
                row["perplexity_vs_float32_pct"] = round(100 * (row["perplexity"] / ref["perplexity"] - 1), 2)

        print(f"\n{'system':<14}{'tok/s':>8}{'x f32':>7}{'linear MB/tok':>15}{'resident MB':>13}{'NLL':>8}{'ppl':>9}{'dppl %':>8}")
        for name, row in rows.items():
            print(
                f"{name:<14}{row['decode_tokens_per_s']:>8.2f}{row.get('speedup_vs_float32', float('nan')):>7.2f}"
                f"{row['linear_weight_bytes_per_token'] / 1e6:>15.1f}{row['resident_bytes'] / 1e6:>13.1f}"
                f"{row['mean_nll']:>8.4f}{row['perplexity']:>9.3f}{row.get('perplexity_vs_float32_pct', float('nan')):>8.2f}"
            )
        result = {
            "model": "smollm2-135m-instruct",
            "torch": torch.__version__,
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "machine": platform.machine(),
            "threads": args.threads,
            "load_float32_s": round(load_s, 2),
            "load_avg_1m_at_end": os.getloadavg()[0],
            "rounds": rounds_done,
            "decode": {"prompt_tokens": 128, "new_tokens": args.decode_tokens, "batch": 1, "statistic": "median"},
            "nll_text": {**describe_text(text), "tokens": int(ids.shape[1])},
            "systems": rows,
            "command": "python bench/quant.py " + " ".join(sys.argv[1:]),
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.out}")

    for r in range(args.rounds):  # interleaved: every round measures every system once
        for name in names:
            tps = decode_tokens_per_s(models[name], args.decode_tokens)
            rows[name]["decode_tokens_per_s_runs"].append(round(tps, 2))
            print(f"round {r + 1} {name}: {tps:.2f} tok/s", flush=True)
        write(r + 1)  # after every round, so an interrupted run keeps what it measured
    return 0


if __name__ == "__main__":
    sys.exit(main())
