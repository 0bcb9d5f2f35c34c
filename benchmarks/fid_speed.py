"""FID from features: this pipeline's `statistics_to_fid` against torchmetrics' FrechetInceptionDistance
on the same features (an identity feature extractor), same process, interleaved repeats.

    pip install torchmetrics && python benchmarks/fid_speed.py

Prints one Markdown table row per feature size; benchmarks/RESULTS.md keeps the results.
"""

from __future__ import annotations

import platform
import statistics
import time

import numpy as np
import torch
from torch import nn

from pipeline.core.metrics.fid import features_to_statistics, statistics_to_fid

REPEATS = 5
SAMPLES = 2000  # per side: the pipeline's default eval.samples


class GivenFeatures(nn.Module):
    """torchmetrics calls its feature network on each batch; the batch here already is features."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


def ours(real: np.ndarray, fake: np.ndarray) -> float:
    return statistics_to_fid(*features_to_statistics(real), *features_to_statistics(fake))


def theirs(real: torch.Tensor, fake: torch.Tensor) -> float:
    from torchmetrics.image.fid import FrechetInceptionDistance

    metric = FrechetInceptionDistance(feature=GivenFeatures(real.shape[1]))
    metric.update(real, real=True)
    metric.update(fake, real=False)
    return float(metric.compute())


def timed(function, *args) -> tuple[float, float]:
    start = time.perf_counter()
    value = function(*args)
    return time.perf_counter() - start, value


def main() -> None:
    torch.set_num_threads(1)
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, 1 thread, "
          f"{SAMPLES} samples per side, median of {REPEATS}")
    print("| features | ours (s) | torchmetrics (s) | speed-up | ours FID | torchmetrics FID |")
    print("|---:|---:|---:|---:|---:|---:|")
    for dim in (2, 128, 2048):
        rng = np.random.default_rng(dim)
        real = rng.normal(size=(SAMPLES, dim))
        fake = rng.normal(loc=0.1, scale=1.1, size=(SAMPLES, dim))
        ours_times, theirs_times = [], []
        for _ in range(REPEATS):  # interleaved, so drift in machine speed hits both alike
            seconds, ours_value = timed(ours, real, fake)
            ours_times.append(seconds)
            seconds, theirs_value = timed(theirs, torch.as_tensor(real).float(), torch.as_tensor(fake).float())
            theirs_times.append(seconds)
        a, b = statistics.median(ours_times), statistics.median(theirs_times)
        print(f"| {dim} | {a:.4f} | {b:.4f} | {b / a:.1f}x | {ours_value:.4f} | {theirs_value:.4f} |")


if __name__ == "__main__":
    main()
