"""What every dataset provides to training and evaluation, and the batch sampler over it."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class GanDataset:
    """Real data in the range the generator outputs.

    points:  N x 2 for 2D mixtures, N x C x H x W in [-1, 1] for images.
    labels:  the mode (mixture component or digit class) of each point, N int64.
    centres: K x 2 mixture means (2D only), with `std` their standard deviation.
    """

    name: str
    points: torch.Tensor
    labels: torch.Tensor
    num_modes: int
    centres: torch.Tensor | None = None
    std: float | None = None

    @property
    def is_image(self) -> bool:
        return self.points.dim() == 4

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.points.shape[1:])

    def __len__(self) -> int:
        return self.points.shape[0]


class BatchSampler:
    """Endless batches, reshuffled each pass; its state goes into checkpoints so a resume is exact."""

    def __init__(self, size: int, batch_size: int, seed: int):
        if batch_size > size:
            raise ValueError(f"batch_size {batch_size} exceeds the dataset's {size} points")
        self.size, self.batch_size = size, batch_size
        self.generator = torch.Generator().manual_seed(seed)
        self.order = torch.randperm(size, generator=self.generator)
        self.position = 0

    def next_indices(self) -> torch.Tensor:
        if self.position + self.batch_size > self.size:
            self.order = torch.randperm(self.size, generator=self.generator)
            self.position = 0
        batch = self.order[self.position : self.position + self.batch_size]
        self.position += self.batch_size
        return batch

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state(), "order": self.order, "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self.order, self.position = state["order"], state["position"]
