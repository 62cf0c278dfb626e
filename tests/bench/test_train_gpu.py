"""The prepared training-precision GPU check stays runnable: `bench/train_gpu.py --smoke` trains the tiny preset
for a few steps on the CPU in bf16, fp16 and emulated fp8 (fp8 itself is refused there, with its reason)."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_train_gpu", REPO / "bench" / "train_gpu.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_smoke_runs_every_precision_on_the_cpu(bench, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present: run the real check")
    out = tmp_path / "train_gpu.json"
    result = bench.main(["--smoke", "--out", str(out)])
    assert json.loads(out.read_text()) == result
    runs = {r["precision"]: r for r in result["runs"]}
    assert set(runs) == {"bf16", "fp16", "fp8", "fp8_emulated"}
    assert "not a CUDA device" in runs["fp8"]["skipped"]
    for name in ("bf16", "fp16", "fp8_emulated"):
        r = runs[name]
        assert r["steps"] == 8 and not r["cut_short"] and all(math.isfinite(x) for x in r["losses"])
        assert r["tokens_per_s"] > 0 and r["compared_at_step"] == 8
        # same weights, same batches: the precisions differ by rounding only
        assert abs(r["final_loss_diff_vs_bf16_pct"]) < 1.0
    assert runs["fp8_emulated"]["fp8_linear_layers"] == 14  # 2 layers x 7 projections, not lm_head
    assert runs["fp16"]["scaler_final_scale"] > 0
    assert runs["bf16"]["losses"] != runs["fp8_emulated"]["losses"]


def test_the_real_check_refuses_without_cuda(bench):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(SystemExit, match="no CUDA device"):
        bench.main([])


def test_batches_follow_the_rule_and_repeat_per_step(bench):
    a = bench.make_batch(5, 2, 64, 102400)
    assert torch.equal(a, bench.make_batch(5, 2, 64, 102400)) and not torch.equal(
        a, bench.make_batch(6, 2, 64, 102400)
    )
    moves = (a[:, 1:] - a[:, :-1]) % bench.RULE_WINDOW
    assert bool(((moves >= 3) & (moves <= 6)).all())
    assert bench.DEEPSEEK_1B.num_parameters() == pytest.approx(1.03e9, rel=0.01)
