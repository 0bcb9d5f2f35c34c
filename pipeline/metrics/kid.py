"""Kernel Inception Distance: the unbiased MMD^2 with a cubic polynomial kernel, averaged over subsets
(Binkowski et al. 2018; the estimator torch-fidelity and the original code use).

    kid = features_to_kid(real_features, fake_features, subsets=50, subset_size=1000, seed=0)
"""

from __future__ import annotations

import numpy as np
import torch

KID_SUBSETS = 10  # torch-fidelity uses 100; with 1000-point subsets of 2000 samples 10 already overlap heavily
KID_SUBSET_SIZE = 1000  # the reference size; smaller sets are used whole


def as_float64(features: torch.Tensor | np.ndarray, name: str) -> np.ndarray:
    if isinstance(features, torch.Tensor):
        features = features.detach().cpu().numpy()
    array = np.asarray(features, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] < 2:
        raise ValueError(f"{name} must be N x D with N >= 2, got shape {array.shape}")
    return array


def polynomial_mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 between samples x (m x d) and y (m x d), kernel k(a, b) = (a.b / d + 1)^3."""
    d, m = x.shape[1], x.shape[0]
    k_xx = (x @ x.T / d + 1) ** 3
    k_yy = (y @ y.T / d + 1) ** 3
    k_xy = (x @ y.T / d + 1) ** 3
    off_diagonal = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(off_diagonal - 2 * k_xy.mean())


def features_to_kid(
    real: torch.Tensor | np.ndarray,
    fake: torch.Tensor | np.ndarray,
    subsets: int = KID_SUBSETS,
    subset_size: int = KID_SUBSET_SIZE,
    seed: int = 0,
) -> float:
    """Mean unbiased MMD^2 over `subsets` random subsets of min(subset_size, n) points of each set."""
    real, fake = as_float64(real, "real features"), as_float64(fake, "fake features")
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"feature sizes differ: real {real.shape[1]}, fake {fake.shape[1]}")
    size = min(subset_size, real.shape[0], fake.shape[0])
    rng = np.random.default_rng(seed)
    values = [
        polynomial_mmd2_unbiased(
            real[rng.choice(real.shape[0], size, replace=False)], fake[rng.choice(fake.shape[0], size, replace=False)]
        )
        for _ in range(subsets)
    ]
    return float(np.mean(values))
