"""Kernel Inception Distance: the unbiased MMD^2 with a cubic polynomial kernel, averaged over subsets
(Binkowski et al. 2018; the estimator of torch-fidelity and the original code).

    reference = features_to_kid_reference(real_features)      # once: the real-real kernel matrix
    kid = reference_to_kid(reference, fake_features, seed=0)  # per evaluation
    kid = features_to_kid(real_features, fake_features)       # both at once
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

KID_SUBSETS = 10  # torch-fidelity uses 100; 1000-point subsets of 2000 samples overlap heavily anyway
KID_SUBSET_SIZE = 1000  # the reference size; smaller sets are used whole


def as_float64(features: torch.Tensor | np.ndarray, name: str) -> torch.Tensor:
    tensor = torch.as_tensor(features).detach().cpu().double()
    if tensor.dim() != 2 or tensor.shape[0] < 2:
        raise ValueError(f"{name} must be N x D with N >= 2, got shape {tuple(tensor.shape)}")
    return tensor


def polynomial_kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """k(x, y) = (x.y / d + 1)^3 for every pair of rows."""
    kernel = torch.addmm(torch.ones((), dtype=a.dtype), a, b.T, alpha=1 / a.shape[1])
    return kernel.pow_(3)  # in place: on 2500 x 2500 the temporaries, not the arithmetic, cost the time


def polynomial_mmd2_unbiased(x: torch.Tensor | np.ndarray, y: torch.Tensor | np.ndarray) -> float:
    """Unbiased MMD^2 between two equal-sized samples (m x d each)."""
    x, y = as_float64(x, "x"), as_float64(y, "y")
    return subset_mmd2(polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y))


def subset_mmd2(k_xx: torch.Tensor, k_yy: torch.Tensor, k_xy: torch.Tensor) -> float:
    m = k_xx.shape[0]
    within = (k_xx.sum() - k_xx.trace() + k_yy.sum() - k_yy.trace()) / (m * (m - 1))
    return float(within - 2 * k_xy.mean())


@dataclass(frozen=True)
class KidReference:
    features: torch.Tensor  # N x D real features, float64
    kernel: torch.Tensor  # N x N real-real kernel, computed once


def features_to_kid_reference(real: torch.Tensor | np.ndarray) -> KidReference:
    real = as_float64(real, "real features")
    return KidReference(real, polynomial_kernel(real, real))


def reference_to_kid(
    reference: KidReference,
    fake: torch.Tensor | np.ndarray,
    subsets: int = KID_SUBSETS,
    subset_size: int = KID_SUBSET_SIZE,
    seed: int = 0,
) -> float:
    """Mean unbiased MMD^2 over `subsets` random subsets of min(subset_size, n) points of each set."""
    return reference_to_kid_and_sd(reference, fake, subsets, subset_size, seed)[0]


def reference_to_kid_and_sd(
    reference: KidReference,
    fake: torch.Tensor | np.ndarray,
    subsets: int = KID_SUBSETS,
    subset_size: int = KID_SUBSET_SIZE,
    seed: int = 0,
) -> tuple[float, float]:
    """(KID, its sd over the subsets), as torch-fidelity reports kernel_inception_distance_std: the
    evaluation's own sampling noise at this n, which a difference between trials must exceed.

    The kernel matrices are computed once over all points; a subset's block sums are m^T K m with
    its 0/1 membership vector m, all subsets in one matrix product.
    """
    fake = as_float64(fake, "fake features")
    if reference.features.shape[1] != fake.shape[1]:
        raise ValueError(f"feature sizes differ: real {reference.features.shape[1]}, fake {fake.shape[1]}")
    size = min(subset_size, reference.features.shape[0], fake.shape[0])
    generator = torch.Generator().manual_seed(seed)
    real_members = memberships(reference.features.shape[0], size, subsets, generator)
    fake_members = memberships(fake.shape[0], size, subsets, generator)
    k_ff, k_rf = polynomial_kernel(fake, fake), polynomial_kernel(reference.features, fake)
    real_within = block_sums(real_members, reference.kernel, real_members) - real_members @ reference.kernel.diagonal()
    fake_within = block_sums(fake_members, k_ff, fake_members) - fake_members @ k_ff.diagonal()
    across = block_sums(real_members, k_rf, fake_members)
    mmd2 = (real_within + fake_within) / (size * (size - 1)) - 2 * across / (size * size)
    return float(mmd2.mean()), float(mmd2.std(unbiased=False))  # torch-fidelity's np.std: population sd


def memberships(count: int, size: int, subsets: int, generator: torch.Generator) -> torch.Tensor:
    """subsets x count 0/1 rows, each marking `size` points drawn without replacement."""
    members = torch.zeros(subsets, count, dtype=torch.float64)
    for row in members:
        row[torch.randperm(count, generator=generator)[:size]] = 1.0
    return members


def block_sums(left: torch.Tensor, kernel: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """For each subset s: the sum of kernel[i, j] over i in left[s], j in right[s]."""
    return ((left @ kernel) * right).sum(dim=1)


def features_to_kid(
    real: torch.Tensor | np.ndarray,
    fake: torch.Tensor | np.ndarray,
    subsets: int = KID_SUBSETS,
    subset_size: int = KID_SUBSET_SIZE,
    seed: int = 0,
) -> float:
    return reference_to_kid(features_to_kid_reference(real), fake, subsets, subset_size, seed)
