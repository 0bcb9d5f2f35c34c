"""Generators and discriminators, sized from the dataset's sample shape.

    g, d = build_models(ModelConfig(name="mlp"), sample_shape=(2,))

Discriminators return one logit per sample; dropout sits in D only, as in the dropout study.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from pipeline.config import ModelConfig

LEAKY_SLOPE = 0.2  # DCGAN paper's LeakyReLU slope in D


class MLPGenerator(nn.Module):
    def __init__(self, latent_dim: int, width: int, layers: int, sample_shape: tuple[int, ...]):
        super().__init__()
        self.sample_shape = sample_shape
        blocks: list[nn.Module] = []
        fan_in = latent_dim
        for _ in range(layers):
            blocks += [nn.Linear(fan_in, width), nn.BatchNorm1d(width), nn.ReLU()]
            fan_in = width
        blocks.append(nn.Linear(fan_in, math.prod(sample_shape)))
        if len(sample_shape) == 3:  # images live in [-1, 1]; 2D points are unbounded
            blocks.append(nn.Tanh())
        self.net = nn.Sequential(*blocks)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, *self.sample_shape)


class MLPDiscriminator(nn.Module):
    def __init__(self, width: int, layers: int, dropout: float, sample_shape: tuple[int, ...]):
        super().__init__()
        blocks: list[nn.Module] = [nn.Flatten()]
        fan_in = math.prod(sample_shape)
        for _ in range(layers):
            blocks += [nn.Linear(fan_in, width), nn.LeakyReLU(LEAKY_SLOPE), nn.Dropout(dropout)]
            fan_in = width
        blocks.append(nn.Linear(fan_in, 1))
        self.net = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)


class DCGANGenerator(nn.Module):
    """z -> 7x7 -> 14x14 -> 28x28, transposed convolutions with batch norm (Radford et al. 2015)."""

    def __init__(self, latent_dim: int, width: int, channels: int):
        super().__init__()
        self.width = width
        projected = 2 * width * 7 * 7
        self.project = nn.Sequential(nn.Linear(latent_dim, projected), nn.BatchNorm1d(projected), nn.ReLU())
        self.upsample = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.ConvTranspose2d(width, channels, 4, stride=2, padding=1),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.upsample(self.project(z).view(-1, 2 * self.width, 7, 7))


class DCGANDiscriminator(nn.Module):
    """28x28 -> 14x14 -> 7x7 -> logit, strided convolutions, dropout after each."""

    def __init__(self, width: int, dropout: float, channels: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, width, 4, stride=2, padding=1),
            nn.LeakyReLU(LEAKY_SLOPE),
            nn.Dropout(dropout),
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1),
            nn.BatchNorm2d(2 * width),
            nn.LeakyReLU(LEAKY_SLOPE),
            nn.Dropout(dropout),
            nn.Flatten(),
            nn.Linear(2 * width * 7 * 7, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)


def build_models(config: ModelConfig, sample_shape: tuple[int, ...]) -> tuple[nn.Module, nn.Module]:
    """(generator, discriminator) for samples of `sample_shape` (2,) or (C, H, W)."""
    if config.name == "mlp":
        return (
            MLPGenerator(config.latent_dim, config.width, config.layers, sample_shape),
            MLPDiscriminator(config.width, config.layers, config.dropout, sample_shape),
        )
    if len(sample_shape) != 3 or sample_shape[1:] != (28, 28):
        raise ValueError(f"model dcgan is built for C x 28 x 28 images, not samples of shape {sample_shape}")
    channels = sample_shape[0]
    return (
        DCGANGenerator(config.latent_dim, config.width, channels),
        DCGANDiscriminator(config.width, config.dropout, channels),
    )
