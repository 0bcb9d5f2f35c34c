"""The class-probability score: the Inception Score computed with the digit classifier.

exp(E_x KL(p(y|x) || p(y))): high when each sample is confidently one class and the classes are
balanced; at most the number of classes.
"""

from __future__ import annotations

import torch

EPS = 1e-12  # keeps log(0) out of KL for classes a sample never predicts


def probabilities_to_class_score(probabilities: torch.Tensor) -> float:
    if probabilities.dim() != 2:
        raise ValueError(f"probabilities must be N x K, got shape {tuple(probabilities.shape)}")
    p_yx = probabilities.double()
    p_y = p_yx.mean(dim=0, keepdim=True)
    kl = (p_yx * ((p_yx + EPS).log() - (p_y + EPS).log())).sum(dim=1)
    return float(kl.mean().exp())
