"""The prepared GPU serving check stays runnable: --smoke runs its correctness checks (engine batch and prefix cache
against an uncached reference, JSON schema on the device when SmolLM2 is converted) and timings at toy sizes."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_gpu_serving_check_smoke_runs_on_cpu(model_cache_dir, tmp_path):
    from modelcore.gguf_import import ensure_smollm2

    smollm2_dir = ensure_smollm2(model_cache_dir)
    out = tmp_path / "gpu.json"
    run = subprocess.run([sys.executable, str(REPO / "bench" / "gpu.py"), "--smoke", "--smollm2", str(smollm2_dir),
                          "--repeats", "1", "--out", str(out)], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(out.read_text())
    checks = result["correctness"]
    assert checks["batch_equals_reference"] and checks["prefix_equals_reference"] and checks["json_schema"]["valid"]
    assert result["summary"]["ttft"]["cached_tokens"] == 48
    assert result["summary"]["batch2"]["aggregate_tokens_per_s"] > 0


def test_gpu_serving_check_refuses_without_cuda_unless_smoke():
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    run = subprocess.run([sys.executable, str(REPO / "bench" / "gpu.py")], capture_output=True, text=True,
                         timeout=120, cwd=REPO)
    assert run.returncode == 2 and "no CUDA device" in run.stderr
