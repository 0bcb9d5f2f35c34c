"""The expected best value after k trials of a random or Optuna search, with a bootstrap band.

Dodge et al. 2019 ("Show Your Work"): for n trial values sorted worst to best, v(1) .. v(n),
E[best of k] = sum_i v(i) [(i/n)^k - ((i-1)/n)^k] (draws with replacement). A curve still falling
at k = n says that more trials would still help.

    from pipeline.stats.best_of_k import expected_best_curve
    curve = expected_best_curve([91.0, 84.2, 88.7, 79.9], mode="min")   # k = 1..4, with a 95% band
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BOOTSTRAP_SAMPLES = 2000  # resamplings of the trials for the band; the curve itself is exact
BAND_SEED = 0  # the band is the same on every build of the report


@dataclass(frozen=True)
class BestOfK:
    k: np.ndarray
    expected: np.ndarray
    low: np.ndarray  # 2.5th percentile over bootstrap resamplings of the trials
    high: np.ndarray


def expected_best(values: np.ndarray, ks: np.ndarray, mode: str) -> np.ndarray:
    """E[best of k] for each k in `ks` (rows of `values` are independent sets of trials)."""
    values = np.atleast_2d(np.asarray(values, float))
    ordered = np.sort(values if mode == "max" else -values, axis=1)  # worst to best, as a maximum
    n = ordered.shape[1]
    i = np.arange(1, n + 1)
    weights = (i[None, :] / n) ** ks[:, None] - ((i[None, :] - 1) / n) ** ks[:, None]  # k x n
    best = ordered @ weights.T  # sets x k
    return best if mode == "max" else -best


def expected_best_curve(values: list[float], mode: str, samples: int = BOOTSTRAP_SAMPLES) -> BestOfK:
    """The curve for k = 1..n over the finite values given, and its bootstrap band."""
    finite = np.asarray([v for v in values if np.isfinite(v)], float)
    if finite.size == 0:
        raise ValueError("no finite trial value to build the expected best from")
    ks = np.arange(1, finite.size + 1)
    resampled = np.random.default_rng(BAND_SEED).choice(finite, size=(samples, finite.size), replace=True)
    band = expected_best(resampled, ks, mode)
    return BestOfK(ks, expected_best(finite, ks, mode)[0], np.percentile(band, 2.5, axis=0),
                   np.percentile(band, 97.5, axis=0))
