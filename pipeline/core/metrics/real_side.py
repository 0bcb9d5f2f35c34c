"""The real side of every metric (the reference's feature statistics, KID's kernel terms, the k-NN radii,
the real mode shares), kept on disk by everything that changes its numbers, as torch-fidelity caches
real-side statistics by input and extractor: a second sweep on the same data and evaluation settings
reads it instead of passing the reference through the feature network again (for CIFAR-10's 50,000
images in Inception, minutes of GPU).

    real = cached_real_side(real_side_key(reference, extractor, samples), compute)

The key hashes the reference's points, the feature space, the feature network's weights, the data's
modes and eval.samples (the size of KID's and PRDC's reference), and FORMAT; files live under
`$PIPELINE_CACHE_DIR/real_side/` and are written whole or not at all.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pickle
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from pipeline.core.data import GanDataset
from pipeline.core.metrics.classifier import cache_dir
from pipeline.core.metrics.kid import KidReference
from pipeline.core.metrics.manifold import RealManifold

FORMAT = "real-side-1"  # raise when what a real side holds, or how it is computed, changes


@dataclass(frozen=True)
class RealSide:
    """What every evaluation compares generated samples with, computed from the real reference once:
    for Inception features of CIFAR-10 that is minutes of GPU, so a sweep computes it in the driver and
    hands it to every trial (sweep/trial.py), and keeps it here for the next sweep."""

    mu: np.ndarray  # the reference features' mean and covariance, float64 (fid.py)
    sigma: np.ndarray
    histogram: torch.Tensor | None  # the real mode shares, where the data has modes
    manifold: RealManifold  # precision/recall and density/coverage's k-NN radii of the reference
    kid_reference: KidReference  # KID's kernel terms of the reference


def real_side_key(reference: torch.Tensor, dataset: GanDataset, network: dict[str, torch.Tensor] | None,
                  samples: int) -> str:
    """A hash of everything the real side's numbers depend on."""
    digest = hashlib.sha256(f"{FORMAT}|{dataset.feature_space}|{dataset.num_modes}|{samples}".encode())
    tensors = [reference] + ([dataset.centres, torch.tensor(dataset.std)] if dataset.centres is not None else [])
    tensors += [state for _, state in sorted((network or {}).items())]
    for tensor in tensors:
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:24]


def real_side_path(key: str) -> Path:
    return cache_dir() / "real_side" / f"{key}.pt"


def read_real_side(path: Path) -> RealSide:
    saved = torch.load(path, weights_only=True)  # tensors only: nothing in the file runs code
    return RealSide(saved["mu"].numpy(), saved["sigma"].numpy(), saved["histogram"],
                    RealManifold(**saved["manifold"]), KidReference(**saved["kid_reference"]))


def cached_real_side(key: str, compute: Callable[[], RealSide]) -> RealSide:
    """The real side stored under `key`, or `compute()`'s, stored there for the next time."""
    path = real_side_path(key)
    if path.exists():
        try:
            return read_real_side(path)
        except (pickle.UnpicklingError, RuntimeError, EOFError, KeyError, TypeError) as err:
            print(f"{path}: not a readable real side ({type(err).__name__}): computing it again", flush=True)
    real = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    saved = dataclasses.asdict(real) | {"mu": torch.from_numpy(real.mu), "sigma": torch.from_numpy(real.sigma)}
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".part", delete=False) as partial:
        torch.save(saved, partial)
    os.replace(partial.name, path)  # whole or not at all: a reader never sees half a file
    return real
