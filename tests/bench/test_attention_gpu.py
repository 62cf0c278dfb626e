"""The prepared GPU check stays runnable: its --smoke mode runs every correctness check and timing at toy
sizes on the CPU (uncompiled FlexAttention) and fails if a fast path differs from its reference."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_gpu_check_script_smoke_runs_on_cpu():
    run = subprocess.run(
        [sys.executable, str(REPO / "bench" / "attention_gpu.py"), "--smoke"],
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "sparse_flex" in run.stdout and "decay_flex" in run.stdout and "cross_sdpa" in run.stdout
    assert "deepseek-llm-7b" in run.stdout


def test_gpu_check_script_refuses_without_cuda_unless_smoke():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    run = subprocess.run([sys.executable, str(REPO / "bench" / "attention_gpu.py")], capture_output=True,
                         text=True, timeout=120, cwd=REPO)
    assert run.returncode != 0 and "no CUDA device" in run.stderr
