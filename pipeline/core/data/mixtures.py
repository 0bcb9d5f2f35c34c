"""PacGAN's 2D Gaussian mixtures: ring8 (8 modes on the unit circle) and grid25 (5x5 grid)."""

from __future__ import annotations

import math

import torch

from pipeline.core.data.base import GanDataset

RING8_STD = 0.01  # PacGAN, section 5.1
GRID25_STD = 0.05
POINTS = 100_000  # a fixed draw, large enough that batches never repeat in a short run


def ring8_centres() -> torch.Tensor:
    angles = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
    return torch.stack([angles.cos(), angles.sin()], dim=1).float()


def grid25_centres() -> torch.Tensor:
    axis = torch.tensor([-4.0, -2.0, 0.0, 2.0, 4.0])
    return torch.cartesian_prod(axis, axis)


def mixture(name: str, centres: torch.Tensor, std: float, points: int = POINTS, seed: int = 0) -> GanDataset:
    """`points` draws from an equal-weight mixture of isotropic Gaussians at `centres`."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(len(centres), (points,), generator=generator)
    noise = torch.randn(points, 2, generator=generator) * std
    return GanDataset(name, centres[labels] + noise, labels, len(centres), centres, std)


def ring8() -> GanDataset:
    return mixture("ring8", ring8_centres(), RING8_STD)


def grid25() -> GanDataset:
    return mixture("grid25", grid25_centres(), GRID25_STD)
