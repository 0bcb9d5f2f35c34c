"""Generators and discriminators, sized from the dataset's sample shape.

    g, d = build_models(ModelConfig(name="mlp"), sample_shape=(2,))
    g, d = build_models(ModelConfig(name="dcgan", pack=2), sample_shape=(3, 64, 64))

Discriminators return one logit per pack of samples (per sample when pack is 1); dropout,
minibatch std, packing and spectral norm are all D's. dcgan takes 28, 32 and 64 px, 1 or 3 channels.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from pipeline.spec.config import ModelConfig

LEAKY_SLOPE = 0.2  # DCGAN paper's LeakyReLU slope in D


class MinibatchStd(nn.Module):
    """Appends the batch's mean feature standard deviation as one more feature (or channel), so D can
    tell a collapsed batch from a varied one (Karras et al. 2018, whole batch as one group)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # + 1e-8 inside the root, as Karras et al.: the gradient of a 0 std is infinite
        spread = (x.var(dim=0, unbiased=False) + 1e-8).sqrt().mean() if x.shape[0] > 1 else x.new_zeros(())
        return torch.cat([x, spread.expand(x.shape[0], 1, *x.shape[2:])], dim=1)


class Dropout(nn.Dropout):
    """nn.Dropout with, on CPU, its mask from uniform draws: torch's CPU dropout draws it with
    `bernoulli_`, about 3x slower than `rand_like`: forward and backward of a DCGAN layer's dropout
    take half the time this way (benchmarks/dropout_cost.py). Elsewhere torch's fused kernel is used."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0 or x.device.type != "cpu":
            return super().forward(x)
        # one float mask, kept 1 / (1 - p) and dropped 0, so backward is a single product as well
        mask = torch.rand_like(x).ge_(self.p).mul_(1.0 / (1.0 - self.p))
        return x * mask


class Packed(nn.Module):
    """PacGAN: groups of `pack` consecutive samples become one input, stacked on the feature/channel axis."""

    def __init__(self, pack: int):
        super().__init__()
        self.pack = pack

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] % self.pack:
            raise ValueError(f"a batch of {x.shape[0]} cannot be split into packs of {self.pack}")
        return x.reshape(x.shape[0] // self.pack, self.pack * x.shape[1], *x.shape[2:])


class Maxout(nn.Module):
    """A linear layer of `width` units, each the largest of `pieces` affine maps (Goodfellow et al. 2013)."""

    def __init__(self, fan_in: int, width: int, pieces: int):
        super().__init__()
        self.pieces = pieces
        self.linear = nn.Linear(fan_in, width * pieces)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x).unflatten(-1, (-1, self.pieces)).amax(-1)


def mlp_d_layer(fan_in: int, width: int, maxout: int) -> list[nn.Module]:
    if maxout > 1:
        return [Maxout(fan_in, width, maxout)]
    return [nn.Linear(fan_in, width), nn.LeakyReLU(LEAKY_SLOPE)]


class MLPGenerator(nn.Module):
    def __init__(self, latent_dim: int, width: int, layers: int, sample_shape: tuple[int, ...]):
        super().__init__()
        self.sample_shape = sample_shape
        blocks: list[nn.Module] = []
        fan_in = latent_dim
        for _ in range(layers):
            blocks += [nn.Linear(fan_in, width), nn.BatchNorm1d(width), nn.LeakyReLU(LEAKY_SLOPE)]
            fan_in = width
        blocks.append(nn.Linear(fan_in, math.prod(sample_shape)))
        if len(sample_shape) == 3:  # images live in [-1, 1]; 2D points and table columns are unbounded
            blocks.append(nn.Tanh())
        self.net = nn.Sequential(*blocks)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, *self.sample_shape)


def d_size(config: ModelConfig) -> tuple[int, int]:
    """D's (width, layers): its own where the config gives them, else G's."""
    return config.d_width or config.width, config.d_layers or config.layers


def mlp_discriminator(config: ModelConfig, sample_shape: tuple[int, ...]) -> nn.Sequential:
    width, layers = d_size(config)
    blocks: list[nn.Module] = [nn.Flatten()]
    fan_in = math.prod(sample_shape)
    for layer in range(layers):
        if layer == config.pack_encoder_layers:  # the layers before this one read each sample alone
            blocks.append(Packed(config.pack))
            fan_in *= config.pack
        blocks += [*mlp_d_layer(fan_in, width, config.d_maxout), Dropout(config.dropout)]
        fan_in = width
    if config.minibatch_std:
        blocks.append(MinibatchStd())
        fan_in += 1
    blocks += [nn.Linear(fan_in, 1), nn.Flatten(0)]
    return nn.Sequential(*blocks)


def dcgan_plan(size: int) -> tuple[int, int]:
    """(starting side, number of 2x up-samplings) for 28 (7 -> 28), 32 (4 -> 32) and 64 (4 -> 64) px."""
    if size not in (28, 32, 64):
        raise ValueError(f"model dcgan is built for 28, 32 or 64 px images, not {size} px")
    start = 7 if size == 28 else 4
    return start, int(math.log2(size // start))


class DCGANGenerator(nn.Module):
    """z -> start x start -> ... -> size x size: transposed convolutions with batch norm (Radford et al. 2015)."""

    def __init__(self, latent_dim: int, width: int, sample_shape: tuple[int, ...]):
        super().__init__()
        channels, size = sample_shape[0], sample_shape[1]
        self.start, ups = dcgan_plan(size)
        self.top = width * 2 ** (ups - 1)
        projected = self.top * self.start**2
        self.project = nn.Sequential(nn.Linear(latent_dim, projected), nn.BatchNorm1d(projected), nn.ReLU())
        blocks: list[nn.Module] = []
        fan_in = self.top
        for _ in range(ups - 1):
            blocks += [nn.ConvTranspose2d(fan_in, fan_in // 2, 4, 2, 1), nn.BatchNorm2d(fan_in // 2), nn.ReLU()]
            fan_in //= 2
        blocks += [nn.ConvTranspose2d(fan_in, channels, 4, 2, 1), nn.Tanh()]
        self.upsample = nn.Sequential(*blocks)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.upsample(self.project(z).view(-1, self.top, self.start, self.start))


def dcgan_discriminator(config: ModelConfig, sample_shape: tuple[int, ...], batch_norm: bool) -> nn.Sequential:
    """size -> ... -> start x start -> logit: strided convolutions, dropout after each."""
    channels, size = sample_shape[0], sample_shape[1]
    start, downs = dcgan_plan(size)
    blocks: list[nn.Module] = [Packed(config.pack)]
    fan_in, fan_out = channels * config.pack, d_size(config)[0]
    for i in range(downs):
        blocks.append(nn.Conv2d(fan_in, fan_out, 4, 2, 1))
        if batch_norm and i > 0:  # none on the first layer, as in DCGAN
            blocks.append(nn.BatchNorm2d(fan_out))
        blocks += [nn.LeakyReLU(LEAKY_SLOPE), Dropout(config.dropout)]
        fan_in, fan_out = fan_out, fan_out * 2
    if config.minibatch_std:
        blocks.append(MinibatchStd())
        fan_in += 1
    blocks += [nn.Flatten(), nn.Linear(fan_in * start * start, 1), nn.Flatten(0)]
    return nn.Sequential(*blocks)


def with_spectral_norm(module: nn.Module) -> nn.Module:
    for child in list(module.modules()):
        if isinstance(child, (nn.Linear, nn.Conv2d)):
            spectral_norm(child)
    return module


def build_models(
    config: ModelConfig, sample_shape: tuple[int, ...], d_batch_norm: bool = True
) -> tuple[nn.Module, nn.Module]:
    """(generator, discriminator) for samples of `sample_shape`: (D,) or (C, H, W).

    `d_batch_norm=False` leaves batch norm out of a dcgan D: per-sample gradient penalties
    (wgan-gp) and spectral norm want a D whose output for one sample does not depend on the others.
    """
    if config.name == "mlp":
        generator = MLPGenerator(config.latent_dim, config.width, config.layers, sample_shape)
        discriminator = mlp_discriminator(config, sample_shape)
    else:
        if len(sample_shape) != 3 or sample_shape[1] != sample_shape[2]:
            raise ValueError(f"model dcgan needs square C x H x W images, not samples of shape {sample_shape}")
        generator = DCGANGenerator(config.latent_dim, config.width, sample_shape)
        discriminator = dcgan_discriminator(config, sample_shape, d_batch_norm and not config.spectral_norm)
    if config.spectral_norm:
        discriminator = with_spectral_norm(discriminator)
    return generator, discriminator
