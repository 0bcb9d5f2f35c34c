"""Mode-collapse measures: which modes samples fall in, how many are covered, and how unevenly.

PacGAN (Lin et al. 2018) for 2D mixtures: a sample is high quality when it lies within 3 standard
deviations of its nearest centre; a mode is covered when at least one high-quality sample is
nearest to it (its MetricLogger: Mahalanobis radius 3, so 98.9% of true 2D samples qualify).
Digits use the classifier's class and a confidence of at least 0.9 instead, and a class counts as
covered only when it holds at least a tenth of its uniform share of the samples: one confidently
misread digit (they exist, at 98% accuracy) must not make a one-class generator cover two modes.
mode_kl is taken over every sample's nearest mode, not the high-quality ones alone as PacGAN does:
that stays defined when no sample is high quality, and equals PacGAN's when all are.
"""

from __future__ import annotations

import torch

from pipeline.spec import metric_names as names

HQ_RADIUS_STDS = 3.0  # PacGAN's high-quality radius
HQ_CONFIDENCE = 0.9  # digits: classifier probability for a high-quality sample
DIGIT_MIN_MODE_SHARE = 0.1  # digits: a covered class holds >= 10% of n / K high-quality samples


def points_to_modes(points: torch.Tensor, centres: torch.Tensor, std: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(nearest-centre index, is-high-quality) for N x 2 points."""
    if points.dim() != 2 or points.shape[1] != centres.shape[1]:
        raise ValueError(f"points must be N x {centres.shape[1]}, got shape {tuple(points.shape)}")
    distances = torch.cdist(points.double(), centres.double())
    nearest, index = distances.min(dim=1)
    return index, nearest <= HQ_RADIUS_STDS * std


def probabilities_to_modes(probabilities: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(predicted class, is-high-quality) from N x K class probabilities."""
    confidence, index = probabilities.max(dim=1)
    return index, confidence >= HQ_CONFIDENCE


def mode_histogram(index: torch.Tensor, num_modes: int) -> torch.Tensor:
    """Share of samples per mode, float64, summing to 1."""
    counts = torch.bincount(index, minlength=num_modes).double()
    return counts / counts.sum()


def smoothed_histogram(index: torch.Tensor, num_modes: int) -> torch.Tensor:
    """The real data's mode shares with half a pseudo-count per mode (Jeffreys), so that a mode the
    reference sample happens to miss does not make the reverse KL infinite."""
    counts = torch.bincount(index, minlength=num_modes).double() + 0.5
    return counts / counts.sum()


def stacked_histogram(index: torch.Tensor) -> torch.Tensor:
    """Stacked MNIST's 1000 mode shares as the product of its three channels' digit shares: the channels
    are drawn independently, and 10 x 3 shares are estimated far better than 1000."""
    channels = [mode_histogram(digit, 10) for digit in (index // 100, index // 10 % 10, index % 10)]
    return torch.einsum("i,j,k->ijk", *channels).reshape(-1)


def reverse_kl(generated: torch.Tensor, real: torch.Tensor) -> float:
    """KL(generated || real) over mode histograms; finite when modes are missing from `generated`."""
    support = generated > 0
    return float((generated[support] * (generated[support] / real[support]).log()).sum())


def modes_to_metrics(
    index: torch.Tensor, high_quality: torch.Tensor, real_histogram: torch.Tensor, min_share: float = 0.0
) -> dict[str, float]:
    """modes covered, mode_kl and hq_fraction for one set of assigned samples.

    A mode is covered when it holds at least max(1, min_share * n / K) high-quality samples.
    """
    num_modes = real_histogram.numel()
    counts = torch.bincount(index[high_quality], minlength=num_modes)
    needed = max(1.0, min_share * index.numel() / num_modes)
    return {
        names.MODES: float((counts >= needed).sum()),
        names.MODE_KL: reverse_kl(mode_histogram(index, num_modes), real_histogram),
        names.HQ_FRACTION: float(high_quality.double().mean()),
    }
