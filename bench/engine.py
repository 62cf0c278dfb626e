"""Engine throughput benchmark on SmolLM2-135M-Instruct, float32, 2 CPU threads (not a test).

Workload: a fixed seeded set of requests (prompt 16-512 tokens of random ids, output 16-256 tokens), all
submitted at once, greedy, EOS ignored so every system produces exactly the same token counts.
Systems: our Engine (continuous batching); transformers `generate` one request at a time; transformers
`generate` on left-padded batches of 8 in arrival order (min_new_tokens = max_new_tokens = the batch's
longest output; only each request's own tokens count as useful output).
Also: batch-1 decode tokens/s against the memory-bandwidth ceiling (parameter bytes read per token / a
measured read bandwidth), time to first token p50 / p95 under the burst, peak RSS of the engine phase.

    .venv/bin/python bench/engine.py            # 32 requests
    .venv/bin/python bench/engine.py --quick    # 8 requests
Writes bench/results/engine.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from modelcore.checkpoint import load_model  # noqa: E402
from modelcore.engine import Engine, SamplingParams  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def workload(n: int, seed: int) -> list[tuple[list[int], int]]:
    rng = random.Random(seed)
    return [
        ([rng.randrange(100, 49000) for _ in range(rng.randint(16, 512))], rng.randint(16, 256)) for _ in range(n)
    ]


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    k = (len(xs) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def read_bandwidth_gbs() -> float:
    x = torch.ones(256 * 1024 * 1024, dtype=torch.float32)  # 1 GiB
    x.sum()
    best = 0.0
    for _ in range(5):
        t0 = time.perf_counter()
        x.sum()
        best = max(best, x.numel() * 4 / (time.perf_counter() - t0))
    return best / 1e9


def bench_engine(model, work, max_batch_size: int) -> dict:
    engine = Engine(model, None, max_batch_size=max_batch_size)
    engine.generate(work[0][0][:32], SamplingParams(temperature=0, max_tokens=4, ignore_eos=True))  # warm up
    t0 = time.perf_counter()
    handles = [
        engine.submit(p, SamplingParams(temperature=0, max_tokens=n, ignore_eos=True)) for p, n in work
    ]
    engine.run_until_idle()
    elapsed = time.perf_counter() - t0
    completions = [h.wait(0) for h in handles]
    assert all(c.completion_tokens == n for c, (_, n) in zip(completions, work, strict=True))
    tokens = sum(c.completion_tokens for c in completions)
    ttft = [c.timings["ttft_s"] for c in completions]
    return {
        "max_batch_size": max_batch_size,
        "seconds": elapsed,
        "output_tokens": tokens,
        "tokens_per_s": tokens / elapsed,
        "ttft_p50_s": percentile(ttft, 0.5),
        "ttft_p95_s": percentile(ttft, 0.95),
    }


def bench_batch1_decode(model, n_tokens: int = 128) -> float:
    engine = Engine(model, None, max_batch_size=1)
    prompt = list(range(1000, 1128))
    engine.generate(prompt, SamplingParams(temperature=0, max_tokens=8, ignore_eos=True))  # warm up
    c = engine.generate(prompt, SamplingParams(temperature=0, max_tokens=n_tokens, ignore_eos=True))
    return (c.completion_tokens - 1) / (c.timings["total_s"] - c.timings["ttft_s"])


def bench_hf(hf_model, work, batch_size: int) -> dict:
    from transformers import GenerationConfig

    pad = 2
    gen = GenerationConfig(do_sample=False, pad_token_id=pad, eos_token_id=None, bos_token_id=None)

    def generate(ids, mask, new):
        gen.max_new_tokens = gen.min_new_tokens = new
        return hf_model.generate(input_ids=ids, attention_mask=mask, generation_config=gen)

    with torch.inference_mode():  # warm up
        generate(torch.tensor([work[0][0][:32]]), torch.ones(1, 32, dtype=torch.long), 4)
    t0 = time.perf_counter()
    useful = 0
    with torch.inference_mode():
        for i in range(0, len(work), batch_size):
            group = work[i : i + batch_size]
            longest = max(len(p) for p, _ in group)
            new = max(n for _, n in group)
            ids = torch.full((len(group), longest), pad, dtype=torch.long)
            mask = torch.zeros((len(group), longest), dtype=torch.long)
            for r, (p, _) in enumerate(group):
                ids[r, longest - len(p) :] = torch.tensor(p)  # left padding
                mask[r, longest - len(p) :] = 1
            out = generate(ids, mask, new)
            assert out.shape[1] == longest + new
            useful += sum(n for _, n in group)
    elapsed = time.perf_counter() - t0
    return {"batch_size": batch_size, "seconds": elapsed, "output_tokens": useful, "tokens_per_s": useful / elapsed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 requests instead of 32")
    parser.add_argument("--requests", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--engine-batch", default="8,16",
                        help="comma list of Engine max_batch_size values; the first is the headline figure")
    parser.add_argument("--model", default=None, help="checkpoint dir (default: the converted SmolLM2)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "engine.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    n = args.requests or (8 if args.quick else 32)
    work = workload(n, args.seed)

    if args.model is None:
        from modelcore.gguf_import import ensure_smollm2

        data = os.environ.get("PLUMBLINE_DATA_DIR") or (REPO / "var" / "test-cache")
        args.model = str(ensure_smollm2(data))
    model = load_model(args.model, dtype=torch.float32)
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())  # tied matrix once

    b1 = bench_batch1_decode(model)
    batches = [int(b) for b in args.engine_batch.split(",")]
    engines = []
    for b in batches:
        engines.append(bench_engine(model, work, b))
        print(f"engine {engines[-1]}", flush=True)
    eng = engines[0]
    engine_rss = peak_rss_mb()
    # After the RSS reading: the probe allocates 1 GiB.
    bandwidth = read_bandwidth_gbs()
    ceiling = bandwidth * 1e9 / weight_bytes
    print(f"batch-1 decode {b1:.1f} tok/s; ceiling {ceiling:.1f} tok/s ({bandwidth:.1f} GB/s, {weight_bytes / 1e6:.0f} MB)",
          flush=True)
    del model

    from transformers import LlamaForCausalLM

    hf_model = LlamaForCausalLM.from_pretrained(args.model, dtype=torch.float32).eval()
    hf8 = bench_hf(hf_model, work, 8)
    print(f"transformers batch 8 {hf8}", flush=True)
    hf1 = bench_hf(hf_model, work, 1)
    print(f"transformers batch 1 {hf1}", flush=True)

    result = {
        "workload": {"requests": n, "seed": args.seed, "prompt_tokens": sum(len(p) for p, _ in work),
                     "output_tokens": sum(k for _, k in work), "threads": args.threads, "dtype": "float32"},
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(), "torch": torch.__version__,
                    "load_avg_at_end": os.getloadavg()},
        "engine": eng,
        "engine_variants": [
            {**e, "ratio_vs_one_at_a_time": e["tokens_per_s"] / hf1["tokens_per_s"],
             "ratio_vs_padded_batch_8": e["tokens_per_s"] / hf8["tokens_per_s"]}
            for e in engines[1:]
        ],
        "transformers_one_at_a_time": hf1,
        "transformers_padded_batch_8": hf8,
        "ratio_vs_one_at_a_time": eng["tokens_per_s"] / hf1["tokens_per_s"],
        "ratio_vs_padded_batch_8": eng["tokens_per_s"] / hf8["tokens_per_s"],
        "batch1_decode_tokens_per_s": b1,
        "read_bandwidth_gb_s": bandwidth,
        "weight_bytes": weight_bytes,
        "bandwidth_ceiling_tokens_per_s": ceiling,
        "batch1_fraction_of_ceiling": b1 / ceiling,
        "engine_peak_rss_mb": engine_rss,
        "goals": {"vs_one_at_a_time": 8.0, "vs_padded_batch_8": 2.0, "batch1_fraction_of_ceiling": 0.6},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")

    rows = [
        (f"engine (continuous batching, max batch {e['max_batch_size']})",
         f"{e['tokens_per_s']:.1f} tok/s ({e['tokens_per_s'] / hf1['tokens_per_s']:.2f}x one-at-a-time, "
         f"{e['tokens_per_s'] / hf8['tokens_per_s']:.2f}x padded batches)")
        for e in engines
    ] + [
        ("transformers generate, one at a time", f"{hf1['tokens_per_s']:.1f} tok/s"),
        ("transformers generate, padded batches of 8", f"{hf8['tokens_per_s']:.1f} tok/s"),
        (f"max batch {eng['max_batch_size']} engine / one-at-a-time (goal >= 8x)", f"{result['ratio_vs_one_at_a_time']:.2f}x"),
        (f"max batch {eng['max_batch_size']} engine / padded batches (goal >= 2x)", f"{result['ratio_vs_padded_batch_8']:.2f}x"),
        ("batch-1 decode", f"{b1:.1f} tok/s"),
        ("bandwidth ceiling", f"{ceiling:.1f} tok/s ({bandwidth:.1f} GB/s read)"),
        ("batch-1 / ceiling (goal >= 60%)", f"{100 * b1 / ceiling:.0f}%"),
        (f"TTFT p50 / p95 (burst of {n}, max batch {eng['max_batch_size']})", f"{eng['ttft_p50_s']:.2f} s / {eng['ttft_p95_s']:.2f} s"),
        ("engine phase peak RSS", f"{engine_rss:.0f} MB"),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
