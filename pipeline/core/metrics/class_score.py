"""The Inception Score (Salimans et al. 2016) and its analog with the digit classifier.

exp(E_x KL(p(y|x) || p(y))): high when each sample is confidently one class and the classes are
balanced; at most the number of classes. The Inception Score proper is over the FID Inception network's
1008 classes, in 10 splits of the samples, reported as the splits' mean and sd (torch-fidelity's and
the original code's protocol); the digit classifier's score is over all samples at once.
"""

from __future__ import annotations

import torch

EPS = 1e-12  # keeps log(0) out of KL for classes a sample never predicts


IS_SPLITS = 10  # the splits of the original Inception Score code, torch-fidelity's default too


def probabilities_to_class_score(probabilities: torch.Tensor) -> float:
    if probabilities.dim() != 2:
        raise ValueError(f"probabilities must be N x K, got shape {tuple(probabilities.shape)}")
    p_yx = probabilities.double()
    p_y = p_yx.mean(dim=0, keepdim=True)
    kl = (p_yx * ((p_yx + EPS).log() - (p_y + EPS).log())).sum(dim=1)
    return float(kl.mean().exp())


def probabilities_to_inception_score(probabilities: torch.Tensor, splits: int = IS_SPLITS) -> tuple[float, float]:
    """(mean, sd) of the score over `splits` consecutive parts of the samples in the order given, split
    and summarised as the original code (openai/improved-gan) does: part i is rows i*N//splits up to
    (i+1)*N//splits, and the sd is the population sd (numpy's default)."""
    count = probabilities.shape[0]
    if probabilities.dim() != 2 or count < splits:
        raise ValueError(f"probabilities must be N x K with N >= {splits}, got shape {tuple(probabilities.shape)}")
    parts = [probabilities[i * count // splits : (i + 1) * count // splits] for i in range(splits)]
    scores = torch.tensor([probabilities_to_class_score(part) for part in parts], dtype=torch.float64)
    return float(scores.mean()), float(scores.std(correction=0))
