"""LoRA adapter serving benchmark on SmolLM2-135M-Instruct, float32, 2 CPU threads (not a test).

Workload: a fixed seeded set of requests (prompt 32-128 tokens of random ids, output 32-64 tokens), all
submitted at once to an Engine with max_batch_size=8, greedy, EOS ignored so every configuration produces
exactly the same token counts. Adapters: rank-8 LoRA on q_proj, v_proj with seeded random non-zero A and B,
written once in PEFT format (modelcore.adapters.save_adapter_weights) into a temporary directory.

Configurations, each an Engine on its own copy of the model (attaching a LoraBank rewires a model in place):
  base            Engine(max_adapters=0), plain nn.Linears: the reference every ratio is taken against
  0 adapters      Engine(max_adapters=8), no request names an adapter (cost of the wrappers alone)
  1 / 4 / 8       Engine(max_adapters=8), requests assigned round-robin to 1, 4 or 8 distinct adapters
Adapters are made resident during warm-up, so the timed runs measure serving, not loading (loading is
measured separately). The machine is shared and noisy, so by default the five engines run interleaved: all
get the workload, then they step in turn, one step each per round, and a configuration's tokens/s is its
output tokens over the time spent in its own submit + step calls; a burst of outside load then hits every
configuration alike. `--sequential` runs each alone from submit to idle instead. Each configuration runs
`--repeats` times; the best run is reported (outside noise only ever slows a run down), with the median
alongside; every run is in the JSON.

Also: time to load one adapter into the engine's LoraBank (`engine.lora.load(name, dir)`, then `unload`;
median of repeats, with the read + validation part alone), and the per-forward cost of a batch-8 decode
step (contexts 64-128 tokens) with no adapter rows, one adapter on all rows and 8 distinct adapters,
interleaved, median.

Goal: one adapter costs at most 10% of base throughput (1-adapter tokens/s >= 0.90 x base).

    .venv/bin/python bench/adapters.py            # 16 requests, 3 runs per configuration
    .venv/bin/python bench/adapters.py --quick    # 8 requests, 2 runs per configuration
    .venv/bin/python bench/adapters.py --quick --sequential
Writes bench/results/adapters.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from modelcore.adapters import (  # noqa: E402
    AdapterConfig,
    LoraWeights,
    load_adapter_weights,
    module_features,
    module_path,
    save_adapter_weights,
)
from modelcore.batch_cache import BatchKVCache  # noqa: E402
from modelcore.checkpoint import load_model  # noqa: E402
from modelcore.engine import Engine, SamplingParams  # noqa: E402

MODEL = "smollm2-135m-instruct"
RANK, ALPHA, TARGETS = 8, 16.0, ("q_proj", "v_proj")
MAX_BATCH, MAX_ADAPTERS = 8, 8
ADAPTER_COUNTS = (0, 1, 4, 8)
GOAL_RATIO = 0.90  # 1-adapter tokens/s over base tokens/s


def load_avg_1m() -> float:
    return os.getloadavg()[0]


def git_state() -> dict:
    """The commit measured and any uncommitted changes under modelcore/ (other people edit the tree)."""
    def git(*cmd: str) -> str:
        try:
            return subprocess.run(["git", *cmd], cwd=REPO, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    dirty = [line[3:] for line in git("status", "--porcelain", "--", "modelcore").splitlines()]
    return {"commit": git("rev-parse", "--short", "HEAD") or "unknown", "dirty": dirty}


def workload(n: int, seed: int) -> list[tuple[list[int], int]]:
    rng = random.Random(seed)
    return [
        ([rng.randrange(100, 49000) for _ in range(rng.randint(32, 128))], rng.randint(32, 64)) for _ in range(n)
    ]


def make_adapters(model, root: Path, count: int, seed: int) -> list[tuple[str, str]]:
    """`count` rank-8 q_proj/v_proj adapters with random non-zero A and B, saved in PEFT format."""
    config = model.config
    gen = torch.Generator().manual_seed(seed)
    out = []
    for i in range(count):
        factors = {}
        for layer in range(config.num_hidden_layers):
            for name in TARGETS:
                n_in, n_out = module_features(config, name)
                a = torch.randn(RANK, n_in, generator=gen) / n_in**0.5  # (r, in)
                b = torch.randn(n_out, RANK, generator=gen) * 0.02  # (out, r): non-zero, unlike peft's init
                factors[module_path(layer, name)] = (a, b)
        weights = LoraWeights(
            AdapterConfig(r=RANK, lora_alpha=ALPHA, target_modules=TARGETS, base_model_name_or_path=MODEL), factors
        )
        name = f"bench-{i}"
        out.append((name, str(save_adapter_weights(root / name, weights))))
    return out


def submit_all(engine: Engine, work, adapters: list[tuple[str, str]]) -> list:
    """Submit the whole workload at once; request i uses adapters[i % len(adapters)] (none if empty)."""
    return [
        engine.submit(
            p,
            SamplingParams(temperature=0, max_tokens=n, ignore_eos=True),
            adapter=adapters[i % len(adapters)] if adapters else None,
        )
        for i, (p, n) in enumerate(work)
    ]


def collect(handles, work) -> tuple[int, list[list[int]]]:
    completions = [h.wait(0) for h in handles]
    bad = [c.error for c in completions if c.finish_reason != "length"]
    if bad:
        raise RuntimeError(f"requests failed: {bad[:3]}")
    assert all(c.completion_tokens == n for c, (_, n) in zip(completions, work, strict=True))
    return sum(c.completion_tokens for c in completions), [c.token_ids for c in completions]


def run_interleaved(configs, work) -> dict[str, dict]:
    """Every configuration's engine gets the whole workload; then the engines step in turn (one step each
    per round, the starting engine rotating), so a burst of load from other processes hits all of them
    alike. A configuration's time is the sum of its own submit + step times."""
    load_before = load_avg_1m()
    submit_s = dict.fromkeys((label for label, _, _ in configs), 0.0)
    step_s: dict[str, list[float]] = {label: [] for label in submit_s}
    handles = {}
    for label, engine, used in configs:
        t0 = time.perf_counter()
        handles[label] = submit_all(engine, work, used)
        submit_s[label] = time.perf_counter() - t0
    pending = [(label, engine) for label, engine, _ in configs]
    rnd = 0
    while pending:
        k = rnd % len(pending)
        for label, engine in pending[k:] + pending[:k]:
            t0 = time.perf_counter()
            more = engine.step()
            step_s[label].append(time.perf_counter() - t0)
            if not more:
                pending.remove((label, engine))
        rnd += 1
    return {label: summarize(handles[label], work, submit_s[label], step_s[label], load_before)
            for label in submit_s}


def run_sequential(configs, work) -> dict[str, dict]:
    """One configuration after the other, each alone from submit to idle."""
    out = {}
    for label, engine, used in configs:
        load_before = load_avg_1m()
        t0 = time.perf_counter()
        handles = submit_all(engine, work, used)
        submit_s = time.perf_counter() - t0
        step_s = []
        more = True
        while more:
            t0 = time.perf_counter()
            more = engine.step()
            step_s.append(time.perf_counter() - t0)
        out[label] = summarize(handles, work, submit_s, step_s, load_before)
    return out


def summarize(handles, work, submit_s: float, step_s: list[float], load_before: float) -> dict:
    tokens, ids = collect(handles, work)
    seconds = submit_s + sum(step_s)
    return {"seconds": seconds, "steps": len(step_s), "output_tokens": tokens, "tokens_per_s": tokens / seconds,
            "load_avg_1m_before": load_before, "step_s": step_s, "token_ids": ids}


def warm_up(engine: Engine, adapters: list[tuple[str, str]]) -> None:
    """A few batch-8 prefill + decode steps; with adapters, each becomes resident and both the one-adapter
    and (with several) the mixed-adapter paths run."""
    short = [(list(range(1000 + 7 * i, 1040 + 7 * i)), 6) for i in range(MAX_BATCH)]
    for used in ([], adapters, adapters[:1]) if adapters else ([],):
        handles = submit_all(engine, short, used)
        engine.run_until_idle()
        collect(handles, short)


def bench_throughput(configs, work, repeats: int, sequential: bool) -> dict:
    """`repeats` rounds of all configurations (interleaved step by step, or one after the other with the
    order reversed on every other round)."""
    runs: dict[str, list[dict]] = {label: [] for label, _, _ in configs}
    for rep in range(repeats):
        if sequential:
            result = run_sequential(configs if rep % 2 == 0 else configs[::-1], work)
        else:
            result = run_interleaved(configs, work)
        for label, _, _ in configs:
            r = result[label]
            runs[label].append(r)
            print(f"  run {rep + 1}/{repeats} {label:<11} {r['tokens_per_s']:6.1f} tok/s  {r['seconds']:6.1f} s  "
                  f"(load avg {r['load_avg_1m_before']:.2f} at start of run)", flush=True)
    base_ids = runs["base"][0]["token_ids"]
    out = {}
    for label, _, used in configs:
        tps = [r["tokens_per_s"] for r in runs[label]]
        ids = runs[label][0]["token_ids"]
        step_lists = [r["step_s"] for r in runs[label]]
        out[label] = {
            "adapters": len(used),
            "runs": [{k: v for k, v in r.items() if k not in ("token_ids", "step_s")} for r in runs[label]],
            "best_tokens_per_s": max(tps),
            "median_tokens_per_s": statistics.median(tps),
            "spread": (max(tps) - min(tps)) / max(tps),  # (best - worst) / best over the repeats
            # Every run of every configuration takes the same steps (same workload, same admissions), so the
            # fastest time of each step over the repeats, summed, is a floor that outside bursts rarely reach.
            "step_floor_tokens_per_s": (
                runs[label][0]["output_tokens"] / sum(min(ts) for ts in zip(*step_lists, strict=True))
                if len({len(x) for x in step_lists}) == 1 else None
            ),
            # sanity: the adapters really change the output, and no adapter means the base's exact output
            "requests_with_output_unlike_base": sum(a != b for a, b in zip(ids, base_ids, strict=True)),
            "requests_using_an_adapter": len(work) if used else 0,
        }
    base = out["base"]
    for v in out.values():
        v["ratio_to_base_best"] = v["best_tokens_per_s"] / base["best_tokens_per_s"]
        v["ratio_to_base_median"] = v["median_tokens_per_s"] / base["median_tokens_per_s"]
        floor, base_floor = v["step_floor_tokens_per_s"], base["step_floor_tokens_per_s"]
        v["ratio_to_base_step_floor"] = floor / base_floor if floor and base_floor else None
    return out


@torch.inference_mode()
def bench_forward(base_model, lora_model, bank, names: list[str], repeats: int, seed: int) -> dict:
    """One batch-8 decode forward (model body + lm_head on the last position, as Engine._forward does) over
    rows holding 64-128 tokens of context; the decode token is written past each row's length and not
    committed, so every timed forward sees the same cache. Modes interleaved, median per mode."""
    config = lora_model.config
    rng = random.Random(seed)
    cache = BatchKVCache(config, MAX_BATCH, config.max_position_embeddings, dtype=torch.float32)
    for _ in range(MAX_BATCH):
        row = cache.add_row()
        n = rng.randint(64, 128)
        positions = cache.begin_prefill(row, n)
        lora_model.model(torch.tensor([[rng.randrange(100, 49000) for _ in range(n)]]), positions, cache)
        cache.commit()
    ids = torch.tensor([[rng.randrange(100, 49000)] for _ in range(MAX_BATCH)])  # (8, 1)

    def forward(model, rows: list[str | None] | None, impl: str = "grouped") -> float:
        bank.set_impl(impl)
        t0 = time.perf_counter()
        positions = cache.begin_decode()
        if rows is None:
            h = model.model(ids, positions, cache)
        else:
            with bank.use_rows(bank.rows_for(rows)):
                h = model.model(ids, positions, cache)
        model.lm_head(h[:, -1, :]).float()
        elapsed = time.perf_counter() - t0
        cache.clear_forward()
        return elapsed

    modes = {
        "plain model (no LoRA wrappers)": lambda: forward(base_model, None),
        "wrappers, no adapter rows": lambda: forward(lora_model, None),
        "1 adapter on all 8 rows": lambda: forward(lora_model, [names[0]] * MAX_BATCH),
        "8 adapters, one per row (grouped)": lambda: forward(lora_model, names[:MAX_BATCH]),
        "8 adapters, one per row (gather impl)": lambda: forward(lora_model, names[:MAX_BATCH], "gather"),
    }
    times: dict[str, list[float]] = {m: [] for m in modes}
    for _ in range(3):  # warm up
        for fn in modes.values():
            fn()
    for _ in range(repeats):
        for m, fn in modes.items():
            times[m].append(fn())
    bank.set_impl("grouped")
    none = statistics.median(times["wrappers, no adapter rows"])
    out = {}
    for m, ts in times.items():
        med = statistics.median(ts)
        out[m] = {"median_ms": 1e3 * med, "min_ms": 1e3 * min(ts), "overhead_vs_no_adapter_rows": med / none - 1}
    return {"contexts": sorted(cache.lengths), "repeats": repeats, "modes": out}


def bench_load(bank, model_config, adapters: list[tuple[str, str]], repeats: int) -> dict:
    """Median time of `bank.load(name, dir)` into a free slot, of `bank.unload(name)`, and of reading and
    validating the directory alone (`load_adapter_weights`)."""
    for name in bank.names():
        bank.unload(name)
    loads, unloads, reads = [], [], []
    for i in range(repeats):
        _, directory = adapters[i % len(adapters)]
        t0 = time.perf_counter()
        load_adapter_weights(directory, model_config)
        t1 = time.perf_counter()
        bank.load("probe", directory)
        t2 = time.perf_counter()
        bank.unload("probe")
        t3 = time.perf_counter()
        reads.append(t1 - t0)
        loads.append(t2 - t1)
        unloads.append(t3 - t2)
    return {
        "repeats": repeats,
        "load_median_ms": 1e3 * statistics.median(loads),
        "load_min_ms": 1e3 * min(loads),
        "unload_median_ms": 1e3 * statistics.median(unloads),
        "read_and_validate_median_ms": 1e3 * statistics.median(reads),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 requests and 2 runs instead of 16 and 3")
    parser.add_argument("--requests", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per configuration")
    parser.add_argument("--forward-repeats", type=int, default=None, help="timed forwards per mode (20 / 40)")
    parser.add_argument("--load-repeats", type=int, default=None, help="timed adapter loads (10 / 20)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cache-dir", default=None,
                        help="data dir holding the converted model (default $PLUMBLINE_DATA_DIR, else var/test-cache)")
    parser.add_argument("--sequential", action="store_true",
                        help="run each configuration alone from submit to idle instead of interleaving engine steps")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "adapters.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    n = args.requests or (8 if args.quick else 16)
    repeats = args.repeats or (2 if args.quick else 3)
    forward_repeats = args.forward_repeats or (20 if args.quick else 40)
    load_repeats = args.load_repeats or (10 if args.quick else 20)
    work = workload(n, args.seed)
    cache_dir = args.cache_dir or os.environ.get("PLUMBLINE_DATA_DIR") or str(REPO / "var" / "test-cache")
    git = git_state()
    load_start = os.getloadavg()
    print(f"load average (1 min) at start: {load_start[0]:.2f}", flush=True)
    t_start = time.perf_counter()

    # One model copy per configuration: attaching a LoraBank rewires a model in place, and separate engines
    # let the configurations run interleaved step by step.
    base_model = load_model(MODEL, dtype=torch.float32, cache_dir=cache_dir)
    with tempfile.TemporaryDirectory(prefix="bench-adapters-") as tmp:
        adapters = make_adapters(base_model, Path(tmp), MAX_ADAPTERS, args.seed)
        adapter_bytes = sum(f.stat().st_size for f in Path(adapters[0][1]).iterdir())
        configs = [("base", Engine(base_model, None, max_batch_size=MAX_BATCH), [])]
        for k in ADAPTER_COUNTS:
            model = load_model(MODEL, dtype=torch.float32, cache_dir=cache_dir)
            engine = Engine(model, None, max_batch_size=MAX_BATCH, max_adapters=MAX_ADAPTERS)
            configs.append((f"{k} adapter" + ("" if k == 1 else "s"), engine, adapters[:k]))
        lora_engine = configs[-1][1]  # the 8-adapter engine: per-forward and load timings use its bank
        bank = lora_engine.lora
        t0 = time.perf_counter()
        bank.load(*adapters[0])  # the bank's very first load also grows every slot to rank 8
        first_load_ms = 1e3 * (time.perf_counter() - t0)
        for _, engine, used in configs:
            warm_up(engine, used)
        assert sorted(bank.names()) == sorted(name for name, _ in adapters)

        mode = "one after the other" if args.sequential else "interleaved step by step"
        print(f"throughput: {n} requests, {repeats} runs per configuration, {mode}", flush=True)
        throughput = bench_throughput(configs, work, repeats, args.sequential)
        print("per-forward cost, batch-8 decode", flush=True)
        per_forward = bench_forward(base_model, lora_engine.model, bank, [name for name, _ in adapters],
                                    forward_repeats, args.seed)
        print("adapter load time", flush=True)
        loading = bench_load(bank, base_model.config, adapters, load_repeats)
    loading["first_load_ms"] = first_load_ms
    load_end = os.getloadavg()
    one = throughput["1 adapter"]
    goal_met = one["ratio_to_base_best"] >= GOAL_RATIO
    modes = per_forward["modes"]
    no_rows = modes["wrappers, no adapter rows"]
    one_rows = modes["1 adapter on all 8 rows"]

    result = {
        "workload": {"requests": n, "seed": args.seed, "prompt_tokens": sum(len(p) for p, _ in work),
                     "output_tokens": sum(k for _, k in work), "prompt_range": [32, 128], "output_range": [32, 64],
                     "max_batch_size": MAX_BATCH, "max_adapters": MAX_ADAPTERS, "threads": args.threads,
                     "dtype": "float32", "assignment": "request i uses adapter i mod k",
                     "adapters_resident_before_timing": True},
        "adapter": {"rank": RANK, "lora_alpha": ALPHA, "target_modules": list(TARGETS), "bytes_on_disk": adapter_bytes},
        "modelcore_git": git,
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(), "torch": torch.__version__,
                    "load_avg_at_start": load_start, "load_avg_at_end": load_end},
        "schedule": "sequential (wall clock, order reversed every other round)" if args.sequential
        else "interleaved: one step of each engine in turn; tokens / own submit+step time",
        "selection": f"best (highest tokens/s) of {repeats} runs; medians also given",
        "throughput": throughput,
        "per_forward_batch8_decode": per_forward,
        "per_forward_one_adapter_overhead_ms": one_rows["median_ms"] - no_rows["median_ms"],
        "per_forward_one_adapter_overhead": one_rows["overhead_vs_no_adapter_rows"],
        "adapter_load": loading,
        "goal": {"one_adapter_ratio_to_base_at_least": GOAL_RATIO, "ratio": one["ratio_to_base_best"],
                 "met": goal_met},
        "seconds_total": time.perf_counter() - t_start,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")

    def fmt(x: float | None, spec: str) -> str:
        return "-" if x is None else format(x, spec)

    print(f"\nSmolLM2-135M float32, {args.threads} threads; {n} requests, {result['workload']['prompt_tokens']} prompt "
          f"+ {result['workload']['output_tokens']} output tokens; max batch {MAX_BATCH}; {result['schedule']}")
    print(f"modelcore at {git['commit']}" + (f", uncommitted changes in {', '.join(git['dirty'])}" if git["dirty"] else ""))
    header = ("configuration", f"best of {repeats}", "x base", "median", "x base", "step floor x base", "spread",
              "outputs != base")
    table = [header] + [
        (label, f"{v['best_tokens_per_s']:.1f} tok/s", f"{v['ratio_to_base_best']:.3f}",
         f"{v['median_tokens_per_s']:.1f}", f"{v['ratio_to_base_median']:.3f}", fmt(v["ratio_to_base_step_floor"], ".3f"),
         f"{100 * v['spread']:.0f}%", f"{v['requests_with_output_unlike_base']}/{n}")
        for label, v in throughput.items()
    ]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for r in table:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))))
    print(f"goal: 1 adapter >= {GOAL_RATIO:.2f} x base throughput (best runs): {one['ratio_to_base_best']:.3f} -> "
          f"{'MET' if goal_met else 'NOT met'}")
    plain = modes["plain model (no LoRA wrappers)"]["median_ms"]
    print(f"\nbatch-8 decode forward, contexts {per_forward['contexts'][0]}-{per_forward['contexts'][-1]} tokens, "
          f"median of {per_forward['repeats']} interleaved:")
    width = max(len(m) for m in modes)
    for m, v in modes.items():
        print(f"  {m:<{width}}  {v['median_ms']:7.1f} ms  {100 * v['overhead_vs_no_adapter_rows']:+6.1f}% vs no adapter "
              f"rows  {100 * (v['median_ms'] / plain - 1):+6.1f}% vs plain model")
    print(f"  one adapter on all rows vs none: {result['per_forward_one_adapter_overhead_ms']:+.2f} ms "
          f"({100 * result['per_forward_one_adapter_overhead']:+.1f}%)")
    print(f"adapter load into the LoraBank: median {loading['load_median_ms']:.1f} ms of {loading['repeats']} "
          f"(read + validate alone {loading['read_and_validate_median_ms']:.1f} ms; unload {loading['unload_median_ms']:.1f} ms; "
          f"the bank's very first load {first_load_ms:.1f} ms)")
    print(f"load average (1 min): {load_start[0]:.2f} at start, {load_end[0]:.2f} at end ({os.cpu_count()} CPUs)")
    print(f"wrote {args.out} ({result['seconds_total']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
