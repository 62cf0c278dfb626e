"""GPU check of the training precisions (issue 18): a DeepSeek-shaped ~1B model with random weights trained
for a few hundred steps in bf16, fp16 and fp8 (`modelcore.training.precision`), one after the other from the
same initial weights on the same batches: peak memory, tokens/s and the final loss against bf16. Prepared for a
session lent a GPU machine (one run, under 8 minutes on an H100/H200); on the CPU `--smoke` runs the same
code on the tiny preset for a few steps (fp8 is refused there and fp8_emulated runs instead), which is how it
is tested here.

Model: DeepSeek-LLM's layout and vocabulary (102400 tokens, untied head, MHA, SwiGLU, RoPE theta 1e4) cut to
hidden 2048, 12 layers, 16 heads, intermediate 5504: 1.03 B parameters, 0.61 B of them in the blocks.
Training: full-parameter AdamW (lr 3e-4, betas 0.9/0.95, weight decay 0.1, 20 warm-up steps), gradient
clipping at 1.0, float32 master weights and optimizer state in every precision (autocast), batch 8 x 1024
tokens, `torch.compile` on CUDA (`--no-compile` to skip). Data: synthetic sequences with a learnable rule
(token t+1 = token t + 3 + u, u uniform in 0..3, within a 2048-token window of the vocabulary; entropy
ln 4 = 1.386 nats/token), seeded per step, so every precision sees the same batches and the loss falls.

Measured per precision: tokens/s over the steps after `--warmup` (compilation excluded), peak CUDA memory
(`max_memory_allocated`), the loss curve, the final loss (mean of the last 10 steps both runs completed) and its
relative difference from bf16's. A precision that cannot run (fp8 without torchao or without FP8 tensor cores)
or that fails is recorded with its reason and the others still run. `--budget-s` caps the whole run (each
precision gets an equal share of it; a run cut short says how many steps it did).

    python bench/train_gpu.py                  # on the GPU machine: writes bench/results/train_gpu.json
    python bench/train_gpu.py --smoke --out /tmp/train_gpu_smoke.json   # tiny preset on the CPU, seconds
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from modelcore.config import PRESETS, ModelConfig  # noqa: E402
from modelcore.model import Transformer  # noqa: E402
from modelcore.training.precision import Precision  # noqa: E402

DEEPSEEK_1B = ModelConfig(
    **{
        **PRESETS["deepseek-llm-7b-base"],
        "hidden_size": 2048,
        "intermediate_size": 5504,
        "num_hidden_layers": 12,
        "num_attention_heads": 16,
        "num_key_value_heads": 16,
    },
    name="deepseek-shaped-1b",
)
RULE_WINDOW, RULE_STEP, RULE_NOISE = 2048, 3, 4


def make_batch(step: int, batch: int, seq: int, vocab: int, seed: int = 0) -> torch.Tensor:
    """(batch, seq + 1) token ids following the rule of the module docstring, the same for a given step."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + step)
    window = min(RULE_WINDOW, vocab)
    start = torch.randint(0, window, (batch, 1), generator=g)
    moves = RULE_STEP + torch.randint(0, RULE_NOISE, (batch, seq), generator=g)
    ids = torch.cat([start, start + moves.cumsum(dim=1)], dim=1) % window  # (B, T + 1)
    return ids + (vocab - window) // 2  # a window in the middle of the vocabulary


def run_one(name: str, config: ModelConfig, args, device: torch.device, budget_s: float) -> dict:
    """Train a fresh model in precision `name`; a dict of the measurements (or of why it could not run). A
    compiled run that fails is retried once eagerly (the row says why); any other failure is recorded."""
    try:
        precision = Precision.resolve(name, device)
    except ValueError as exc:
        return {"precision": name, "skipped": str(exc)}
    compile_error = None
    for compiled in [True, False] if args.compile else [False]:
        try:
            row = _train(name, precision, config, args, device, budget_s, compiled)
            return {**row, "compiled": compiled, "compile_error": compile_error}
        except Exception as exc:  # noqa: BLE001  (a benchmark row, not a crash of the whole check)
            error = f"{type(exc).__name__}: {str(exc)[:500]}"
            precision.restore()
            gc.collect()
            if device.type == "cuda":
                torch.cuda.empty_cache()
            if compiled:
                compile_error = error
                precision = Precision.resolve(name, device)
                continue
            return {"precision": name, "error": error, "compile_error": compile_error}
    raise AssertionError("unreachable")


def _train(
    name: str,
    precision: Precision,
    config: ModelConfig,
    args,
    device: torch.device,
    budget_s: float,
    compiled: bool,
) -> dict:
    torch.manual_seed(args.seed)  # same initial weights for every precision
    with torch.device(device):
        model = Transformer(config)
    model.init_weights(std=0.02)
    model.train()
    precision.prepare(model)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.1, fused=device.type == "cuda"
    )
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / 20))
    forward = torch.compile(model) if compiled else model
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats(device)
    losses: list[float] = []
    timed_tokens, timed_s = 0, 0.0
    started = time.perf_counter()
    for step in range(args.steps):
        ids = make_batch(step, args.batch, args.seq, config.vocab_size, args.seed).to(device)
        t0 = time.perf_counter()
        with precision.autocast():
            logits = forward(ids[:, :-1])  # (B, T, V)
        loss = F.cross_entropy(logits.float().flatten(0, 1), ids[:, 1:].flatten())
        precision.backward(loss)
        precision.clip_grad_norm_(optimizer, model.parameters(), 1.0)
        precision.step(optimizer)
        optimizer.zero_grad(set_to_none=True)
        schedule.step()
        losses.append(loss.item())  # synchronises
        if step >= args.warmup:
            timed_s += time.perf_counter() - t0
            timed_tokens += ids[:, :-1].numel()
        if time.perf_counter() - started > budget_s:
            break
    row = {
        "precision": name,
        "steps": len(losses),
        "cut_short": len(losses) < args.steps,
        "fp8_linear_layers": precision.converted_count,
        "tokens_per_s": round(timed_tokens / timed_s, 1) if timed_s else None,
        "peak_memory_gib": (
            round(torch.cuda.max_memory_allocated(device) / 2**30, 3) if device.type == "cuda" else None
        ),
        "first_loss": losses[0],
        "losses": [round(x, 5) for x in losses],
        "elapsed_s": round(time.perf_counter() - started, 1),
        "scaler_final_scale": precision.scaler.get_scale() if precision.scaler is not None else None,
    }
    del forward, model, optimizer
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return row


def final_loss(losses: list[float], upto: int) -> float:
    return statistics.fmean(losses[max(0, upto - 10) : upto])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny preset, a few steps, any device")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=10, help="steps left out of tokens/s (compilation)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=1024)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--precisions", default="bf16,fp16,fp8")
    parser.add_argument("--budget-s", type=float, default=420.0, help="wall-clock cap of all the runs")
    parser.add_argument("--no-compile", dest="compile", action="store_false")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "train_gpu.json")
    args = parser.parse_args(argv)

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cpu" and not args.smoke:
        sys.exit("train_gpu: no CUDA device here; run it on a GPU machine, or with --smoke on the CPU")
    config = DEEPSEEK_1B
    precisions = [p.strip() for p in args.precisions.split(",") if p.strip()]
    if args.smoke:
        config = ModelConfig.from_name("tiny")
        args.steps, args.warmup, args.batch, args.seq = min(args.steps, 8), 2, 2, 32
        args.lr = 1e-2
        args.compile = args.compile and device.type == "cuda"
        if device.type == "cpu" and "fp8_emulated" not in precisions:
            precisions.append("fp8_emulated")  # fp8 is refused on the CPU: its emulation runs in its place
    if "bf16" not in precisions:
        precisions.insert(0, "bf16")  # the reference
    per_run_s = args.budget_s / len(precisions)

    rows = [run_one(name, config, args, device, per_run_s) for name in precisions]
    ran = {r["precision"]: r for r in rows if "losses" in r}
    bf16 = ran.get("bf16")
    for row in ran.values():
        if bf16 is None:
            break
        upto = min(len(row["losses"]), len(bf16["losses"]))
        row["final_loss"] = round(final_loss(row["losses"], upto), 5)
        ref = final_loss(bf16["losses"], upto)
        row["final_loss_diff_vs_bf16_pct"] = round(100 * (row["final_loss"] - ref) / ref, 4)
        row["compared_at_step"] = upto

    result = {
        "model": config.name or "tiny",
        "parameters": config.num_parameters(),
        "batch": args.batch,
        "seq": args.seq,
        "steps": args.steps,
        "compile": args.compile,
        "device": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or "cpu",
        "capability": list(torch.cuda.get_device_capability(device)) if device.type == "cuda" else None,
        "torch": torch.__version__,
        "torchao": _torchao_version(),
        "smoke": args.smoke,
        "runs": rows,
    }
    print(f"{result['model']}: {result['parameters'] / 1e9:.3f} B parameters on {result['device']}")
    print(f"{'precision':<14}{'steps':>6}{'tokens/s':>12}{'peak GiB':>10}{'final loss':>12}{'vs bf16 %':>11}")
    for r in rows:
        if "losses" not in r:
            print(f"{r['precision']:<14} not run: {r.get('skipped') or r.get('error')}")
            continue
        print(
            f"{r['precision']:<14}{r['steps']:>6}{r['tokens_per_s'] or 0:>12.0f}{r['peak_memory_gib'] or 0:>10.2f}"
            f"{r.get('final_loss', float('nan')):>12.4f}{r.get('final_loss_diff_vs_bf16_pct', float('nan')):>11.3f}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return result


def _torchao_version() -> str | None:
    try:
        import torchao
    except ImportError:
        return None
    return getattr(torchao, "__version__", "unknown")


if __name__ == "__main__":
    main()
