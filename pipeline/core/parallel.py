"""Data parallelism for one GAN over `torch.distributed` (gloo on CPU, nccl on GPU).

Every worker holds the same two networks; each takes its share of every global batch, and the
gradients are averaged over the workers before each optimizer step, so all copies stay equal and
a step is the step of one model on the whole batch. `train.batch_size` is the global batch.

Why not torch's `DistributedDataParallel`: a GAN step runs D twice (real, fake) before one backward,
the generator step back-propagates through D without updating it, and WGAN-GP takes a double
backward through `autograd.grad`; DDP's reducer supports none of these cleanly. Averaging one
flattened gradient buffer per network and step is DDP's arithmetic without its constraints.

Who sets the process group up does not matter here: Ray Train's TorchTrainer in a sweep
(`pipeline/sweep/multi_worker.py`), `torch.multiprocessing` in the tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class DataParallel:
    rank: int
    world_size: int

    @property
    def is_main(self) -> bool:
        """Rank 0 evaluates, logs and checkpoints; the others only train."""
        return self.rank == 0

    def local_batch(self, global_batch: int) -> int:
        if global_batch % self.world_size:
            raise ValueError(f"batch_size {global_batch} does not split over {self.world_size} workers")
        return global_batch // self.world_size

    def shard(self, indices: torch.Tensor) -> torch.Tensor:
        """This worker's contiguous share of a global batch's indices (the same on every worker)."""
        size = self.local_batch(indices.shape[0])
        return indices[self.rank * size : (self.rank + 1) * size]

    def average_gradients(self, module: nn.Module) -> None:
        """One all-reduce of the module's gradients, flattened, divided by the number of workers."""
        grads = [p.grad for p in module.parameters() if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= self.world_size
        offset = 0
        for grad in grads:
            grad.copy_(flat[offset : offset + grad.numel()].view_as(grad))
            offset += grad.numel()

    def mean(self, values: torch.Tensor) -> torch.Tensor:
        """The mean of a tensor over the workers (the loss totals of an evaluation)."""
        total = values.clone()
        dist.all_reduce(total)
        return total / self.world_size

    def broadcast_module(self, module: nn.Module) -> None:
        """Rank 0's parameters and buffers to every worker: all copies start equal."""
        for tensor in [*module.parameters(), *module.buffers()]:
            dist.broadcast(tensor.data, src=0)

    def main_says(self, flag: bool, device: torch.device) -> bool:
        """Rank 0's verdict (say, "the samples are finite") on every worker, so all stop together."""
        value = torch.tensor([1.0 if flag else 0.0], device=device)
        dist.broadcast(value, src=0)
        return bool(value.item())
