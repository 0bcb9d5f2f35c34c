"""What every dataset provides to training and evaluation, and the batch sampler over it."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from pipeline.errors import UserError
from pipeline.spec.feature_spaces import COORDINATES


@dataclass(frozen=True)
class GanDataset:
    """Real data in the range the generator outputs.

    points:  N x 2 for 2D mixtures, N x C x H x W in [-1, 1] for images.
             N x D standardized columns for tabular data.
    labels:  the mode (mixture component or digit class) of each point, N int64; all 0 where the
             data has no known modes (num_modes == 0: image folders, tables).
    centres: K x 2 mixture means (2D only), with `std` their standard deviation.
    unseen:  real data of the same kind that nothing trains on (full MNIST's test split when the
             train split is loaded), which the digit classifier leaves for its accuracy and the floor.
    columns, column_mean, column_std: tabular data's column names and the standardization undone
             by `to_original_units`.
    feature_space: which features score it (one of FEATURE_SPACES): the dataset says, not its name.
    """

    name: str
    points: torch.Tensor
    labels: torch.Tensor
    num_modes: int
    centres: torch.Tensor | None = None
    std: float | None = None
    source: GanDataset | None = None  # stacked MNIST: the digits it stacks (its classifier's data)
    unseen: GanDataset | None = None  # full MNIST's test split beside its train split: the evaluation's floor
    columns: tuple[str, ...] | None = None
    column_mean: torch.Tensor | None = None
    column_std: torch.Tensor | None = None
    feature_space: str = COORDINATES

    @property
    def is_image(self) -> bool:
        return self.points.dim() == 4

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.points.shape[1:])

    @property
    def has_modes(self) -> bool:
        return self.num_modes > 0

    def __len__(self) -> int:
        return self.points.shape[0]

    def to_original_units(self, samples: torch.Tensor) -> torch.Tensor:
        """Tabular samples back in the CSV's units; other data is returned as it is."""
        if self.column_mean is None:
            return samples
        return samples * self.column_std + self.column_mean


class DatasetError(UserError, ValueError):
    """A dataset that cannot be read; the message names the path and what is wrong."""


class BatchSampler:
    """Endless batches, reshuffled each pass; its state goes into checkpoints so a resume is exact.

    Batches come on `device`: the pass's order is copied there once, because copying each batch's
    indices from (pageable) host memory makes the host wait for the GPU's queue every step.
    """

    def __init__(self, size: int, batch_size: int, seed: int, device: torch.device | str = "cpu"):
        if batch_size > size:
            raise ValueError(f"batch_size {batch_size} exceeds the dataset's {size} points")
        self.size, self.batch_size, self.device = size, batch_size, torch.device(device)
        self.generator = torch.Generator().manual_seed(seed)
        self.set_order(torch.randperm(size, generator=self.generator), 0)

    def set_order(self, order: torch.Tensor, position: int) -> None:
        self.order, self.position = order, position
        self.device_order = order.to(self.device)

    def next_indices(self) -> torch.Tensor:
        if self.position + self.batch_size > self.size:
            self.set_order(torch.randperm(self.size, generator=self.generator), 0)
        batch = self.device_order[self.position : self.position + self.batch_size]
        self.position += self.batch_size
        return batch

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state(), "order": self.order, "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self.set_order(state["order"], state["position"])
