"""Stacked MNIST: three random digits as the three channels of one image, 1000 modes
(Srivastava et al. 2017, VEEGAN; Lin et al. 2018, PacGAN). Mode = 100 * red + 10 * green + blue."""

from __future__ import annotations

import torch

from pipeline.core.data.base import GanDataset
from pipeline.spec.feature_spaces import STACKED_DIGITS


def stacked(digits: GanDataset, points: int, seed: int) -> GanDataset:
    generator = torch.Generator().manual_seed(seed)
    picks = torch.randint(len(digits), (points, 3), generator=generator)
    images = digits.points[picks, 0]  # points x 3 x 28 x 28
    labels = digits.labels[picks]
    modes = labels[:, 0] * 100 + labels[:, 1] * 10 + labels[:, 2]
    return GanDataset("stacked_mnist", images, modes, num_modes=1000, source=digits, feature_space=STACKED_DIGITS)


def channel_digits(images: torch.Tensor) -> torch.Tensor:
    """N x 3 x 28 x 28 -> 3N x 1 x 28 x 28: each channel as a digit, for the digit classifier."""
    return images.reshape(-1, 1, *images.shape[2:])
