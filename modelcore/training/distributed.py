"""Data-parallel training under `torchrun`: one process per device, DDP for the gradients, each rank its
shard of every global batch, rank 0 alone writing outputs.

`torchrun --nproc_per_node N -m modelcore.train ...` sets RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR;
`DistContext.from_env(device)` reads them (a plain `python -m modelcore.train` is world size 1, no process
group). The backend is NCCL on CUDA (device cuda:LOCAL_RANK) and gloo on the CPU.

Same global batch, same loss curve: the data order is `DistributedSampler`'s seeded permutation, which does
not depend on the world size; rank r takes positions r, r + N, r + 2N, ... of it, so the union of the ranks'
k-th batches of `global_batch / N` rows is the single process's k-th batch of `global_batch` rows (exactly, as
long as the example count is a multiple of the global batch; otherwise the sampler pads the last batch with
repeated rows). The loss of a rank is its token-loss *sum* divided by the token count of the whole global
batch (all-reduced), times N because DDP averages gradients over ranks: the gradient is then the
single-process gradient of the mean over the global batch, not a mean of per-rank means.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.utils.data import DistributedSampler


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @classmethod
    def from_env(cls, device: str | torch.device = "cpu") -> DistContext:
        """The context of this process: single-process unless torchrun set WORLD_SIZE > 1, in which case the
        process group is initialised (NCCL on CUDA, gloo on the CPU) and a CUDA device becomes cuda:LOCAL_RANK."""
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        device = torch.device(device)
        if world_size <= 1:
            return cls(device=device)
        rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
        if device.type == "cuda":
            device = torch.device("cuda", local_rank)
            torch.cuda.set_device(device)
        if not dist.is_initialized():
            backend = "nccl" if device.type == "cuda" else "gloo"
            dist.init_process_group(backend=backend, device_id=device if device.type == "cuda" else None)
        return cls(rank=rank, world_size=world_size, local_rank=local_rank, device=device)

    def per_rank_batch(self, global_batch: int) -> int:
        if global_batch % self.world_size:
            raise ValueError(
                f"batch size {global_batch} (global) must be a multiple of the world size {self.world_size}"
            )
        return global_batch // self.world_size

    def sampler(self, dataset: Sequence, *, seed: int, shuffle: bool = True) -> DistributedSampler:
        """This rank's shard of `dataset` (call `.set_epoch(e)` each epoch)."""
        return DistributedSampler(
            dataset, num_replicas=self.world_size, rank=self.rank, shuffle=shuffle, seed=seed, drop_last=False
        )

    def wrap(self, model: nn.Module) -> nn.Module:
        """DDP around `model` when distributed (gradients of trainable parameters all-reduced), else `model`."""
        if not self.distributed:
            return model
        from torch.nn.parallel import DistributedDataParallel

        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=device_ids)

    def all_sum(self, value: Tensor) -> Tensor:
        """Sum of `value` over the ranks (a new tensor; `value` itself is left alone)."""
        value = value.detach().clone()
        if self.distributed:
            dist.all_reduce(value, op=dist.ReduceOp.SUM)
        return value

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def close(self) -> None:
        if self.distributed and dist.is_initialized():
            dist.destroy_process_group()
