"""`torchrun --nproc_per_node 2 -m modelcore.train adapter ...` on the CPU (gloo): two ranks, each its half of
every global batch, give the loss curve of one process with the same global batch; rank 0 alone writes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from modelcore import load_model
from modelcore.training.adapter import SUMMARY_FILE, TrainOptions, train_adapter
from modelcore.training.distributed import DistContext

from .test_train import base_dir, data_file, tokenizer  # noqa: F401  (module fixtures shared)

pytest.importorskip("peft")

OPTIONS = TrainOptions(
    rank=4, alpha=8, target_modules=("q_proj", "v_proj"), lr=1e-2, max_steps=3, batch_size=4, val_fraction=0.0
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_gloo_ranks_match_one_process(base_dir, tokenizer, data_file, tmp_path):  # noqa: F811
    out = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2"]
    command += ["--master_addr", "127.0.0.1", "--master_port", str(_free_port())]
    command += ["-m", "modelcore.train", "adapter", "--base", str(base_dir), "--data", str(data_file)]
    command += ["--out", str(out), "--rank", "4", "--alpha", "8", "--lr", "0.01", "--max-steps", "3"]
    command += ["--batch-size", "4", "--val-fraction", "0", "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    printed = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(printed) == 1  # rank 0 alone reports
    distributed = json.loads((out / SUMMARY_FILE).read_text())
    assert distributed["world_size"] == 2 and distributed["steps"] == 3

    single = train_adapter(
        load_model(base_dir), tokenizer, data_file, tmp_path / "one", options=OPTIONS, progress=False
    )
    assert single["world_size"] == 1
    # Same global batches (15 rows, the first 12 of the shared permutation in 3 batches of 4) and the
    # global-batch token mean as the loss: equal up to float32 summation order (gloo's all-reduce sums
    # the two half-batches' gradients in another order than one backward pass does).
    assert distributed["train_losses"] == pytest.approx(single["train_losses"], rel=1e-5, abs=1e-6)
    assert single["train_losses"][-1] < single["train_losses"][0]


def test_global_batch_must_split_evenly():
    ctx = DistContext(rank=0, world_size=3)
    with pytest.raises(ValueError, match="batch size 4 .* multiple of the world size 3"):
        ctx.per_rank_batch(4)
    assert ctx.per_rank_batch(6) == 2
