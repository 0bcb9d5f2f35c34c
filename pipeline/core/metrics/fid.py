"""The Fréchet distance between Gaussians fitted to features, in float64.

    mu, sigma = features_to_statistics(features)          # N x D -> (D,), (D, D)
    fid = statistics_to_fid(mu_real, sigma_real, mu, sigma)
"""

from __future__ import annotations

import numpy as np
import torch


def features_to_statistics(features: torch.Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance of N x D features."""
    if isinstance(features, torch.Tensor):
        features = features.detach().cpu().numpy()
    array = np.asarray(features, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] < 2:
        raise ValueError(f"features must be N x D with N >= 2, got shape {array.shape}")
    return array.mean(axis=0), np.atleast_2d(np.cov(array, rowvar=False))


def statistics_to_fid(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)).

    tr((S1 S2)^(1/2)) is taken as the sum of square roots of the eigenvalues of the symmetric
    matrix S1^(1/2) S2 S1^(1/2), which has the same spectrum: no complex parts, and round-off
    negatives are clipped to zero, so the result is never negative.
    """
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (mu1.size, mu1.size):
        raise ValueError(
            f"mismatched statistics: mu {mu1.shape} vs {mu2.shape}, sigma {sigma1.shape} vs {sigma2.shape}"
        )
    root1 = symmetric_sqrt(sigma1)
    middle = root1 @ sigma2 @ root1
    trace_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0.0, None)).sum()
    diff = mu1 - mu2
    return float(max(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt, 0.0))


def symmetric_sqrt(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T
