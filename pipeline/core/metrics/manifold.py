"""Precision and recall (Kynkaanniemi et al. 2019, k=3), density and coverage (Naeem et al. 2020,
k=5): how much of the generated set lies on the real manifold, and how much of the real manifold
the generated set reaches, each manifold a union of k-nearest-neighbour balls in feature space.

    manifold = features_to_manifold(real_features)       # once per dataset: k-NN radii of the real set
    metrics = manifold_to_prdc(manifold, fake_features)  # per evaluation
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from pipeline.spec import metric_names as names

PR_K = 3  # Kynkaanniemi et al.'s default
DC_K = 5  # Naeem et al.'s default


def as_tensor(features: torch.Tensor | np.ndarray, name: str) -> torch.Tensor:
    tensor = torch.as_tensor(features).detach().cpu().double()
    if tensor.dim() != 2 or tensor.shape[0] < 2:
        raise ValueError(f"{name} must be N x D with N >= 2, got shape {tuple(tensor.shape)}")
    return tensor


def kth_neighbour_radii(distances: torch.Tensor, k: int) -> torch.Tensor:
    """From a set's own N x N distance matrix: each point's distance to its k-th nearest other point."""
    if distances.shape[0] <= k:
        raise ValueError(f"need more than k={k} points for k-NN radii, got {distances.shape[0]}")
    # The 1st smallest is the point itself, at 0. topk: 6x faster than kthvalue on a 2500 x 2500 matrix.
    return distances.topk(k + 1, dim=1, largest=False).values[:, k]


@dataclass(frozen=True)
class RealManifold:
    features: torch.Tensor  # N x D, float64
    radii_pr: torch.Tensor  # distance to the PR_K-th nearest real neighbour
    radii_dc: torch.Tensor  # distance to the DC_K-th nearest real neighbour


def features_to_manifold(real: torch.Tensor | np.ndarray) -> RealManifold:
    real = as_tensor(real, "real features")
    distances = torch.cdist(real, real)
    return RealManifold(real, kth_neighbour_radii(distances, PR_K), kth_neighbour_radii(distances, DC_K))


def manifold_to_prdc(manifold: RealManifold, fake: torch.Tensor | np.ndarray) -> dict[str, float]:
    """precision, recall, density and coverage of `fake` features against the real manifold.

    Two distance matrices serve all four: fake x real, and fake x fake for the fake radii.
    """
    real, fake = manifold.features, as_tensor(fake, "fake features")
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"feature sizes differ: real {real.shape[1]}, fake {fake.shape[1]}")
    fake_radii = kth_neighbour_radii(torch.cdist(fake, fake), PR_K)
    distances = torch.cdist(fake, real)  # M fake x N real
    in_real_pr = distances <= manifold.radii_pr  # fake j in the k=3 ball of real i
    in_real_dc = distances <= manifold.radii_dc
    return {
        names.PRECISION: float(in_real_pr.any(dim=1).double().mean()),
        names.RECALL: float((distances <= fake_radii[:, None]).any(dim=0).double().mean()),
        names.DENSITY: int(in_real_dc.sum()) / (DC_K * fake.shape[0]),
        names.COVERAGE: float(in_real_dc.any(dim=0).double().mean()),
    }


def features_to_prdc(real: torch.Tensor | np.ndarray, fake: torch.Tensor | np.ndarray) -> dict[str, float]:
    return manifold_to_prdc(features_to_manifold(real), fake)
