"""Calibration of the capacity planner for this CPU (not a test): what our own engine reaches here.

Measures, on the real embedded model (SmolLM2-135M-Instruct, float32, 2 threads, the Engine):
- memory read bandwidth (bench/engine.py's `read_bandwidth_gbs`: sum over 1 GiB, best of 5) and the float32
  matmul rate (2048 x 2048 x 2048 `torch.mm`, best of 3): the CPU's row of the planner's hardware table;
- calibration points: batch-1 decode tokens/s at a 128-token prompt (bench/engine.py's `bench_batch1_decode`)
  and the time to first token of a 256-token prompt: the planner derives this CPU's bandwidth and compute
  efficiency factors from them (modelcore/planner.py, `cpu_hardware`);
- held-out points, which the factors are NOT fitted to: batch-1 decode after a 768-token prompt, and aggregate
  decode of 4 streams at once (128-token prompts). tests/modelcore/test_planner.py checks the planner's
  predictions for these against the measurements (goal: within 25%).
Rounds are interleaved (each round measures every point once); each figure is the median over the rounds.
The machine is shared: the load average before and after is recorded, and every figure depends on it.

    .venv/bin/python bench/plan_calibrate.py              # 3 rounds, about 2 minutes
    .venv/bin/python bench/plan_calibrate.py --rounds 5
Writes bench/results/plan_cpu.json.
"""

from __future__ import annotations

import argparse
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

from bench.engine import bench_batch1_decode, read_bandwidth_gbs  # noqa: E402
from modelcore.checkpoint import load_model  # noqa: E402
from modelcore.engine import Engine, SamplingParams  # noqa: E402
from modelcore.gguf_import import ensure_smollm2  # noqa: E402

CALIBRATION_PROMPT = 128  # bench_batch1_decode's prompt length
PREFILL_PROMPT = 256
LONG_PROMPT = 768
BATCH = 4
MATMUL_N = 2048


def matmul_gflops() -> float:
    a = torch.randn(MATMUL_N, MATMUL_N)
    b = torch.randn(MATMUL_N, MATMUL_N)
    torch.mm(a, b)  # warm up
    best = 0.0
    for _ in range(3):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = max(best, 2 * MATMUL_N**3 / (time.perf_counter() - t0))
    return best / 1e9


def prefill_s(model, n_prompt: int) -> float:
    """Time to first token of one `n_prompt`-token request on an idle engine (prefill + the first token)."""
    engine = Engine(model, None, max_batch_size=1)
    c = engine.generate(list(range(1000, 1000 + n_prompt)), SamplingParams(temperature=0, max_tokens=1,
                                                                         ignore_eos=True))
    return c.timings["ttft_s"]


def long_context_decode(model, n_prompt: int, n_tokens: int) -> float:
    """Batch-1 decode tokens/s after an `n_prompt`-token prompt (the prefill is not counted)."""
    engine = Engine(model, None, max_batch_size=1)
    c = engine.generate(list(range(1000, 1000 + n_prompt)),
                        SamplingParams(temperature=0, max_tokens=n_tokens, ignore_eos=True))
    return (c.completion_tokens - 1) / (c.timings["total_s"] - c.timings["ttft_s"])


def batched_decode(model, batch: int, n_prompt: int, n_tokens: int) -> float:
    """Aggregate decode tokens/s of `batch` streams submitted at once: tokens after each stream's first, over
    the time from the last first token to the end."""
    engine = Engine(model, None, max_batch_size=batch)
    params = SamplingParams(temperature=0, max_tokens=n_tokens, ignore_eos=True)
    t0 = time.perf_counter()
    handles = [engine.submit(list(range(1000 + 7 * i, 1000 + 7 * i + n_prompt)), params) for i in range(batch)]
    engine.run_until_idle()
    elapsed = time.perf_counter() - t0
    done = [h.wait(0) for h in handles]
    assert all(c.completion_tokens == n_tokens for c in done)
    last_first = max(c.timings["ttft_s"] for c in done)
    return sum(c.completion_tokens - 1 for c in done) / (elapsed - last_first)


def mem_total_gb() -> float:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024 / 1e9
    raise RuntimeError("no MemTotal in /proc/meminfo")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--decode-tokens", type=int, default=48)
    parser.add_argument("--heldout-tokens", type=int, default=24)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "plan_cpu.json")
    args = parser.parse_args()
    if args.rounds < 3:
        parser.error(f"--rounds {args.rounds}: at least 3 (the figures are medians)")
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    t_start = time.perf_counter()

    data = os.environ.get("PLUMBLINE_DATA_DIR") or (REPO / "var" / "test-cache")
    model = load_model(str(ensure_smollm2(data)), dtype=torch.float32)
    runs: dict[str, list[float]] = {k: [] for k in (
        "read_bandwidth_gb_s", "matmul_gflops", "decode_tokens_per_s", "prefill_s", "long_context_decode_tokens_per_s",
        "batch_decode_tokens_per_s")}
    with torch.inference_mode():
        for r in range(args.rounds):
            runs["read_bandwidth_gb_s"].append(read_bandwidth_gbs())
            runs["matmul_gflops"].append(matmul_gflops())
            runs["decode_tokens_per_s"].append(bench_batch1_decode(model, n_tokens=args.decode_tokens))
            runs["prefill_s"].append(prefill_s(model, PREFILL_PROMPT))
            runs["long_context_decode_tokens_per_s"].append(long_context_decode(model, LONG_PROMPT,
                                                                                args.heldout_tokens))
            runs["batch_decode_tokens_per_s"].append(batched_decode(model, BATCH, CALIBRATION_PROMPT,
                                                                    args.heldout_tokens))
            print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.3g}" for k, v in runs.items()), flush=True)
    med = {k: statistics.median(v) for k, v in runs.items()}
    load_after = os.getloadavg()

    result = {
        "what": "this CPU as measured with our own engine: the planner's 'cpu' hardware row and its efficiency "
                "factors (calibration points) plus held-out points the factors are not fitted to",
        "note": "a shared machine: other engineers' jobs run beside this one, so every figure depends on the load "
                "recorded here; medians over interleaved rounds",
        "model": "smollm2-135m-instruct",
        "dtype": "float32",
        "threads": args.threads,
        "rounds": args.rounds,
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpu_count": os.cpu_count(), "torch": torch.__version__,
                    "cpu_capability": torch.backends.cpu.get_cpu_capability(), "memory_gb": round(mem_total_gb(), 2)},
        "load_avg_before": [round(x, 2) for x in load_before],
        "load_avg_after": [round(x, 2) for x in load_after],
        "seconds": round(time.perf_counter() - t_start, 1),
        "hardware": {
            "read_bandwidth_gb_s": round(med["read_bandwidth_gb_s"], 2),
            "matmul_fp32_gflops": round(med["matmul_gflops"], 2),
            "bandwidth_method": "bench/engine.py read_bandwidth_gbs: torch sum over 1 GiB float32, best of 5",
            "matmul_method": f"torch.mm float32 {MATMUL_N}x{MATMUL_N}x{MATMUL_N}, best of 3",
        },
        "calibration": {
            "decode": {"batch": 1, "prompt_tokens": CALIBRATION_PROMPT, "new_tokens": args.decode_tokens,
                       "tokens_per_s": round(med["decode_tokens_per_s"], 3),
                       "method": "bench/engine.py bench_batch1_decode"},
            "prefill": {"batch": 1, "prompt_tokens": PREFILL_PROMPT, "ttft_s": round(med["prefill_s"], 4)},
        },
        "heldout": {
            "long_context_decode": {"batch": 1, "prompt_tokens": LONG_PROMPT, "new_tokens": args.heldout_tokens,
                                    "tokens_per_s": round(med["long_context_decode_tokens_per_s"], 3)},
            "batch_decode": {"batch": BATCH, "prompt_tokens": CALIBRATION_PROMPT, "new_tokens": args.heldout_tokens,
                             "aggregate_tokens_per_s": round(med["batch_decode_tokens_per_s"], 3)},
        },
        "runs": {k: [round(x, 4) for x in v] for k, v in runs.items()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("load_avg_before", "load_avg_after", "seconds", "hardware",
                                             "calibration", "heldout")}, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
