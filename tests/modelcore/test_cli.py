"""`python -m modelcore generate|info` as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "modelcore", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, env=env)


def test_generate_prints_a_completion(smollm2_dir):
    out = run_cli("generate", "--model", str(smollm2_dir), "--prompt", "What is the capital of France?", "--chat",
                  "--max-tokens", "12")
    assert out.returncode == 0, out.stderr
    assert "Paris" in out.stdout
    assert "completion tokens" in out.stderr


def test_generate_with_a_json_schema(smollm2_dir, tmp_path):
    schema = {"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"]}
    (tmp_path / "schema.json").write_text(json.dumps(schema))
    out = run_cli("generate", "--model", str(smollm2_dir), "--prompt", "What is 2+2?", "--chat",
                  "--max-tokens", "20", "--temperature", "1", "--seed", "3", "--json-schema",
                  str(tmp_path / "schema.json"))
    assert out.returncode == 0, out.stderr
    assert isinstance(json.loads(out.stdout)["answer"], int)


def test_info_prints_the_parameter_count():
    out = run_cli("info", "smollm2-135m-instruct")
    assert out.returncode == 0, out.stderr
    assert "parameters: 134,515,008" in out.stdout
    assert "num_hidden_layers: 30" in out.stdout


def test_info_of_a_checkpoint_dir(smollm2_dir):
    out = run_cli("info", str(smollm2_dir))
    assert out.returncode == 0 and "parameters: 134,515,008" in out.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("generate", "--prompt", "x"),  # --model missing
        ("generate", "--model", "tiny", "--prompt", "x", "--temperature", "-1"),
        ("generate", "--model", "tiny", "--prompt", "x", "--max-tokens", "many"),
        ("generate", "--model", "tiny", "--prompt", "x", "--json-schema", "/no/such/file.json"),
        ("info", "no-such-model"),
        ("frobnicate",),
    ],
)
def test_bad_arguments_exit_2(args):
    out = run_cli(*args, timeout=120)
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert "error" in out.stderr


def test_generate_refuses_an_unknown_quantization_before_loading_anything():
    out = run_cli("generate", "--model", "tiny", "--prompt", "x", "--quantize", "int3", timeout=120)
    assert out.returncode == 2
    assert "--quantize" in out.stderr and "invalid choice: 'int3'" in out.stderr


@pytest.mark.parametrize("flag, value, message", [
    ("--device", "gpu", "--device: device 'gpu': expected one of auto | cpu | cuda | cuda:N"),
    ("--dtype", "int8", "--dtype: invalid choice: 'int8'"),
])
def test_generate_refuses_a_bad_device_or_dtype(flag, value, message):
    out = run_cli("generate", "--model", "tiny", "--prompt", "x", flag, value, timeout=120)
    assert out.returncode == 2 and message in out.stderr, out.stderr


def test_generate_in_bfloat16_on_the_named_device(smollm2_dir):
    """--dtype reaches the weights: the bfloat16 model still answers (greedy, the same question as above)."""
    out = run_cli("generate", "--model", str(smollm2_dir), "--prompt", "What is the capital of France?", "--chat",
                  "--max-tokens", "8", "--device", "cpu", "--dtype", "bfloat16")
    assert out.returncode == 0, out.stderr
    assert "Paris" in out.stdout
