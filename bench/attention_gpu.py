"""GPU check of the attention kernels (issue 7): each fast path against its reference on the GPU, and dense
against sparse wall time at long lengths. Prepared for a session that is lent a GPU machine (one short run);
on the CPU `--smoke` runs the same code at toy sizes with uncompiled FlexAttention, which is how it is
tested here.

1. Correctness on the device (float32, small shapes, compiled FlexAttention on CUDA):
   - temporal decay: `decay_attention_flex` (compiled) and `decay_attention_sdpa` vs `decay_attention_reference`;
   - dynamic sparse: `sparse_attention(backend="flex")` (compiled) vs `sparse_attention_reference`;
   - cross-modal: `sdpa_cross_attention` vs `eager_cross_attention`.
2. Timing (bf16 on CUDA; SmolLM2 shapes H=9, Hkv=3, D=64 and DeepSeek-7B shapes H=32, Hkv=32, D=128, batch 1,
   causal prefill): dense SDPA (flash) vs sparse FlexAttention with the default options, at 32k and 64k
   (`--lengths`), selection included; first call (compile) reported apart; median of `--repeats`.

    python bench/attention_gpu.py                 # on the GPU machine: writes bench/results/attention_gpu.json
    python bench/attention_gpu.py --smoke         # toy sizes on the CPU (uncompiled flex), no timings kept
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from modelcore.attention import decay, sparse  # noqa: E402
from modelcore.vision.config import CrossModalConfig  # noqa: E402,F401  (import check of the package)
from modelcore.vision.cross import eager_cross_attention, sdpa_cross_attention  # noqa: E402

SHAPES = {"smollm2-135m": (9, 3, 64), "deepseek-llm-7b": (32, 32, 128)}


def _max_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).abs().max())


def _qkv(h: int, hkv: int, t: int, d: int, dtype: torch.dtype, device: str, seed: int = 0):
    g = torch.Generator(device="cpu").manual_seed(seed)
    q = torch.randn(1, h, t, d, generator=g).to(device=device, dtype=dtype)
    k = torch.randn(1, hkv, t, d, generator=g).to(device=device, dtype=dtype)
    v = torch.randn(1, hkv, t, d, generator=g).to(device=device, dtype=dtype)
    return q, k, v


def correctness(device: str, smoke: bool) -> dict:
    """Max abs error of every fast path against its reference on `device` (float32)."""
    compiled = device == "cuda"
    t = 128 if smoke else 1024
    q, k, v = _qkv(9, 3, t, 64, torch.float32, device)
    pos = torch.arange(t, device=device)[None]
    rates = decay.decay_rates(9, device=device)
    ref = decay.decay_attention_reference(q, k, v, None, rates=rates, q_pos=pos, k_pos=pos)
    flex_fn = decay.compiled_flex_attention() if compiled else None
    out = {
        "decay_flex": _max_err(
            decay.decay_attention_flex(q, k, v, None, rates=rates, q_pos=pos, k_pos=pos, flex_fn=flex_fn), ref
        ),
        "decay_sdpa": _max_err(decay.decay_attention_sdpa(q, k, v, None, rates=rates, q_pos=pos, k_pos=pos), ref),
    }
    opts = sparse.Options(block_size=16 if smoke else 64, top_k=2 if smoke else 4, dense_below=0)
    t_s = 256 if smoke else 2048
    q, k, v = _qkv(9, 3, t_s, 64, torch.float32, device, seed=1)
    ref = sparse.sparse_attention_reference(q, k, v, opts)
    out["sparse_flex"] = _max_err(sparse.sparse_attention(q, k, v, opts, backend="flex" if compiled else "flex_eager"), ref)
    out["sparse_gather"] = _max_err(sparse.sparse_attention(q, k, v, opts, backend="gather"), ref)
    g = torch.Generator(device="cpu").manual_seed(2)
    qc = torch.randn(2, 4, 32, 16, generator=g).to(device)
    kc = torch.randn(2, 4, 49, 16, generator=g).to(device)
    vc = torch.randn(2, 4, 49, 16, generator=g).to(device)
    key_mask = torch.ones(2, 49, dtype=torch.bool, device=device)
    key_mask[1, 20:] = False
    out["cross_sdpa"] = _max_err(sdpa_cross_attention(qc, kc, vc, key_mask), eager_cross_attention(qc, kc, vc, key_mask))
    return out


def _timed(fn, device: str, repeats: int) -> tuple[float, float]:
    """(first call s, median of `repeats` further calls s)."""
    def once() -> float:
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    first = once()
    return first, statistics.median(once() for _ in range(repeats))


def _time_one(q, k, v, opts, backend: str, device: str, repeats: int) -> dict:
    """Dense causal SDPA vs the sparse fast path on one (q, k, v)."""
    gqa = q.shape[1] != k.shape[1]
    dense_first, dense = _timed(
        lambda: torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=gqa),
        device, repeats,
    )
    sparse_first, sparse_s = _timed(lambda: sparse.sparse_attention(q, k, v, opts, backend=backend), device, repeats)
    return {
        "dense_sdpa_ms": round(dense * 1e3, 3), "sparse_ms": round(sparse_s * 1e3, 3),
        "speedup": round(dense / sparse_s, 2), "sparse_first_call_s": round(sparse_first, 2),
        "dense_first_call_s": round(dense_first, 3),
    }


def timing(device: str, lengths: list[int], repeats: int, smoke: bool) -> list[dict]:
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    backend = "flex" if device == "cuda" else "flex_eager"
    opts = sparse.Options(block_size=16, top_k=2, dense_below=0) if smoke else sparse.Options()
    rows = []
    for name, (h, hkv, d) in SHAPES.items():
        for t in lengths:
            row = _time_one(*_qkv(h, hkv, t, d, dtype, device), opts, backend, device, repeats)
            rows.append({"shape": name, "tokens": t, "dtype": str(dtype).removeprefix("torch."), **row})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="toy sizes (any device; CPU uses uncompiled flex)")
    parser.add_argument("--lengths", type=int, nargs="*", default=[32768, 65536])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "attention_gpu.json")
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu" and not args.smoke:
        sys.exit("attention_gpu: no CUDA device here; run it on a GPU machine, or with --smoke on the CPU")
    lengths = [256, 512] if args.smoke else args.lengths
    errors = correctness(device, args.smoke)
    rows = timing(device, lengths, 1 if args.smoke else args.repeats, args.smoke)
    print(f"device: {torch.cuda.get_device_name() if device == 'cuda' else 'cpu'}  torch {torch.__version__}")
    print("max abs error vs reference (float32):", ", ".join(f"{k} {v:.2e}" for k, v in errors.items()))
    print(f"{'shape':<16}{'tokens':>8}{'dense ms':>11}{'sparse ms':>11}{'speedup':>9}{'compile s':>11}")
    for r in rows:
        print(f"{r['shape']:<16}{r['tokens']:>8}{r['dense_sdpa_ms']:>11}{r['sparse_ms']:>11}{r['speedup']:>9}"
              f"{r['sparse_first_call_s']:>11}")
    if not args.smoke:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        report = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "errors": errors,
                  "options": sparse.Options().__dict__, "timing": rows}
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.out}")
    bad = {k: v for k, v in errors.items() if v > 2e-3}
    if bad:
        sys.exit(f"attention_gpu: fast paths differ from their references: {bad}")


if __name__ == "__main__":
    main()
