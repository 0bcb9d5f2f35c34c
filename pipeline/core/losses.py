"""GAN losses as functions of D's outputs: non-saturating (default), minimax, hinge, least squares,
and WGAN with gradient penalty; and R1, a penalty on D's gradient at real data for any of them.

    loss_d = discriminator_loss("hinge", real_logits, fake_logits, smoothing=0.0)
    loss_g = generator_loss("hinge", fake_logits)
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.functional import binary_cross_entropy_with_logits as bce
from torch.nn.functional import relu, softplus

LOSSES = ("ns", "minimax", "hinge", "lsgan", "wgan-gp")


def discriminator_loss(kind: str, real: torch.Tensor, fake: torch.Tensor, smoothing: float = 0.0) -> torch.Tensor:
    """D's loss on its outputs for real and fake inputs; `smoothing` lowers the real target (one-sided)."""
    target = 1.0 - smoothing
    if kind in ("ns", "minimax"):
        return bce(real, torch.full_like(real, target)) + bce(fake, torch.zeros_like(fake))
    if kind == "hinge":
        return relu(target - real).mean() + relu(1.0 + fake).mean()
    if kind == "lsgan":
        return 0.5 * ((real - target) ** 2).mean() + 0.5 * (fake**2).mean()
    if kind == "wgan-gp":
        return fake.mean() - real.mean()  # the gradient penalty is added by the caller
    raise ValueError(f"unknown loss {kind!r}; one of {LOSSES}")


def generator_loss(kind: str, fake: torch.Tensor) -> torch.Tensor:
    if kind == "ns":
        return softplus(-fake).mean()  # -log D(G(z))
    if kind == "minimax":
        return -softplus(fake).mean()  # log(1 - D(G(z))), Goodfellow et al.'s original objective
    if kind in ("hinge", "wgan-gp"):
        return -fake.mean()
    if kind == "lsgan":
        return 0.5 * ((fake - 1.0) ** 2).mean()
    raise ValueError(f"unknown loss {kind!r}; one of {LOSSES}")


def decision_accuracy(kind: str, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """D's accuracy on real and on fake inputs, from the decision rule its loss implies."""
    # Python-number thresholds: a tensor made from a number on the GPU is a host-to-device copy, which
    # makes the host wait for the GPU's whole queue every step
    threshold: float | torch.Tensor = 0.0
    if kind == "lsgan":
        threshold = 0.5
    elif kind == "wgan-gp":  # a critic has no absolute scale: halfway between the two means
        threshold = (real.mean() + fake.mean()).detach() / 2
    return (real > threshold).float().mean(), (fake <= threshold).float().mean()


def gradient_penalty(discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor, pack: int) -> torch.Tensor:
    """Gulrajani et al.: (||grad D(x_hat)|| - 1)^2 at random interpolates, one norm per pack of samples."""
    alpha = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device)
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    (gradient,) = torch.autograd.grad(discriminator(mixed).sum(), mixed, create_graph=True)
    norms = gradient.reshape(real.shape[0] // pack, -1).norm(dim=1)
    return ((norms - 1.0) ** 2).mean()


def r1_penalty(real_out: torch.Tensor, real: torch.Tensor, pack: int) -> torch.Tensor:
    """Mescheder et al.: ||grad D(x)||^2 at real x (which must require grad), one per pack of samples."""
    (gradient,) = torch.autograd.grad(real_out.sum(), real, create_graph=True)
    return gradient.reshape(real.shape[0] // pack, -1).pow(2).sum(dim=1).mean()
