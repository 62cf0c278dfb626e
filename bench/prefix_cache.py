"""Prefix-cache benchmark on SmolLM2-135M-Instruct, float32 (not a test).

Workloads (greedy, EOS ignored, 16 new tokens each, requests one after another as a report's sections are):
- shared: a report's sections: one ~`--shared` token system message (instructions and a fact table, the same for
  every section) and a ~40-token section instruction, `--sections` requests;
- distinct: the same shapes with nothing shared (a different system message per request): the cost of looking
  up and keeping blocks that are never reused.
Systems: the Engine without a prefix cache, with 16-token blocks and with 64-token blocks; interleaved per round,
`--rounds` rounds, medians reported. Each system gets a fresh Engine per round (an empty prefix cache), so the first
section always pays the whole prefill. Time to first token is per request; the load average is recorded.

    .venv/bin/python bench/prefix_cache.py             # 3 rounds, 6 sections, ~600 shared tokens
    .venv/bin/python bench/prefix_cache.py --quick
Writes bench/results/prefix_cache.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from modelcore.checkpoint import load_model  # noqa: E402
from modelcore.engine import Engine, SamplingParams  # noqa: E402
from modelcore.gguf_import import ensure_smollm2  # noqa: E402
from modelcore.tokenizer import load_tokenizer  # noqa: E402

SYSTEMS = {"off": None, "block16": 16, "block64": 64}
QUESTIONS = (
    "Write a three-sentence investment summary: growth, profitability and valuation.",
    "Write a short company overview: its scale, its revenue trend and its profitability.",
    "Comment in three sentences on margins, returns, leverage and cash flow.",
    "Explain the valuation in three sentences: the DCF value per share and the peer multiples.",
    "Name the three main risks to the rating in three sentences.",
    "Give an investment rating and a 12-month price target per share, with a one sentence basis.",
    "Describe the balance sheet in two sentences.",
    "Summarise the cash-flow statement in two sentences.",
)


def fact_table(seed: int, tokens: int, tokenizer) -> str:
    """A system message of about `tokens` tokens: instructions and metric lines (seeded values)."""
    g = torch.Generator().manual_seed(seed)
    lines = ["You are an equity research analyst. Use only these facts, written exactly as they appear.", "FACTS:"]
    metrics = ("revenue", "gross margin", "operating margin", "net margin", "ROE", "free cash flow", "net debt",
               "EV/EBITDA", "P/E", "current ratio", "interest cover", "capex")
    i = 0
    while len(tokenizer.encode("\n".join(lines))) < tokens:
        value = float(torch.rand((), generator=g)) * 1000
        lines.append(f"- {metrics[i % len(metrics)]} FY{2015 + i // len(metrics)}: {value:.1f}")
        i += 1
    return "\n".join(lines)


def prompts(tokenizer, *, shared: bool, sections: int, shared_tokens: int, seed: int) -> list[list[int]]:
    out = []
    for s in range(sections):
        system = fact_table(seed if shared else seed * 1000 + s, shared_tokens, tokenizer)
        messages = [{"role": "system", "content": system}, {"role": "user", "content": QUESTIONS[s % len(QUESTIONS)]}]
        out.append(tokenizer.encode(tokenizer.apply_chat_template(messages)))
    return out


def run(model, tokenizer, block: int | None, requests: list[list[int]]) -> dict:
    engine = Engine(model, tokenizer, max_batch_size=1, prefix_cache_bytes=(256 << 20) if block else 0,
                    prefix_block=block or 16)
    params = SamplingParams(temperature=0, max_tokens=16, ignore_eos=True)
    ttft, cached, tokens = [], [], []
    started = time.perf_counter()
    for ids in requests:
        done = engine.generate(ids, params)
        ttft.append(done.timings["ttft_s"])
        cached.append(done.cached_tokens)
        tokens.append(done.token_ids)
    return {"total_s": time.perf_counter() - started, "ttft_s": ttft, "cached_tokens": cached, "token_ids": tokens}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sections", type=int, default=6)
    parser.add_argument("--shared", type=int, default=600, help="tokens of the shared system message")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="1 round, 3 sections, 300 shared tokens")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "prefix_cache.json")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.sections, args.shared = 1, 3, 300
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    path = ensure_smollm2(REPO / "var" / "test-cache")
    model, tokenizer = load_model(path), load_tokenizer(path)
    workloads = {name: prompts(tokenizer, shared=name == "shared", sections=args.sections, shared_tokens=args.shared,
                               seed=7) for name in ("shared", "distinct")}
    runs: dict[str, dict[str, list[dict]]] = {w: {s: [] for s in SYSTEMS} for w in workloads}
    with torch.inference_mode():
        run(model, tokenizer, None, workloads["distinct"][:1])  # warm-up
        for _ in range(args.rounds):
            for workload, requests in workloads.items():
                for system, block in SYSTEMS.items():  # interleaved: every round runs every system once
                    runs[workload][system].append(run(model, tokenizer, block, requests))
    results: dict = {}
    print(f"prefix cache: {args.sections} sections, prompts {[len(p) for p in workloads['shared']]} tokens, "
          f"{args.rounds} rounds, {args.threads} threads (load {load_before[0]:.1f} -> {os.getloadavg()[0]:.1f})")
    print(f"{'workload':>9} {'system':>8} {'total s':>8} {'ttft 1st s':>10} {'ttft later s':>12} {'cached/req':>10}"
          f" {'same tokens':>11}")
    for workload, systems in runs.items():
        reference = systems["off"][0]["token_ids"]
        results[workload] = {}
        for system, rs in systems.items():
            later = [statistics.median(r["ttft_s"][1:]) for r in rs]
            row = {
                "total_s_median": statistics.median(r["total_s"] for r in rs),
                "total_s_runs": [r["total_s"] for r in rs],
                "ttft_first_s_median": statistics.median(r["ttft_s"][0] for r in rs),
                "ttft_later_s_median": statistics.median(later),
                "cached_tokens": rs[0]["cached_tokens"],
                "same_tokens_as_off": all(r["token_ids"] == reference for r in rs),
            }
            results[workload][system] = row
            print(f"{workload:>9} {system:>8} {row['total_s_median']:8.2f} {row['ttft_first_s_median']:10.3f} "
                  f"{row['ttft_later_s_median']:12.3f} {statistics.mean(row['cached_tokens']):10.0f} "
                  f"{str(row['same_tokens_as_off']):>11}")
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=REPO).stdout.strip()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "commit": commit, "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "prompt_tokens": {w: [len(p) for p in ps] for w, ps in workloads.items()},
        "load_avg_before": load_before, "load_avg_after": os.getloadavg(), "results": results,
    }, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
