"""One evaluation of a generator's samples against a dataset: FID, KID, precision/recall,
density/coverage and mode-collapse metrics, plus the class score for digits.

    evaluator = Evaluator(dataset, samples=2000, classifier=cached_classifier(dataset))
    metrics = evaluator.evaluate(generated)          # {'fid': ..., 'modes': ..., ...}
    floor = evaluator.real_floor()                   # the same metrics for held-back real data
    spread = evaluator.floor_spread()                # how much the floor moves between real sets of n

The floor's real points are unseen by the feature network, as generated points are: for digits they
come from the split the classifier was trained around (pipeline/core/metrics/split.py).

The feature space is the dataset's (its `feature_space`): each has its registered extractor
(extractors.py), which the evaluator asks for features, modes, class scores and the real split.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from pipeline.core.data import GanDataset
from pipeline.core.metrics.classifier import TrainedClassifier
from pipeline.core.metrics.extractors import FEATURE_EXTRACTORS, FLOOR_SETS, Assessed
from pipeline.core.metrics.fid import features_to_statistics, statistics_to_fid
from pipeline.core.metrics.inception import FIDInception
from pipeline.core.metrics.kid import features_to_kid_reference, reference_to_kid_and_sd
from pipeline.core.metrics.manifold import features_to_manifold, manifold_to_prdc
from pipeline.core.metrics.modes import mode_histogram, modes_to_metrics
from pipeline.core.metrics.real_side import RealSide, cached_real_side, real_side_key
from pipeline.core.metrics.split import SPLIT_SEED
from pipeline.spec import metric_names as names


def needs_classifier(dataset: GanDataset) -> bool:
    """Whether the data's feature space is a classifier of its classes (trained once, then cached)."""
    return FEATURE_EXTRACTORS[dataset.feature_space].needs_classifier


def needs_inception(dataset: GanDataset) -> bool:
    """Whether the data is scored on FID Inception features (the weights are read, or fetched, once)."""
    return FEATURE_EXTRACTORS[dataset.feature_space].needs_inception


def digit_source(dataset: GanDataset) -> GanDataset:
    """The digits a classifier is trained on: the data itself, or what stacked MNIST stacks."""
    return dataset.source if dataset.source is not None else dataset


def max_eval_samples(dataset: GanDataset) -> tuple[int, str]:
    """The most eval.samples this data allows, and why: the floor and the reference need that many."""
    return FEATURE_EXTRACTORS[dataset.feature_space].max_eval_samples(dataset)


@dataclass(frozen=True)
class FloorSpread:
    """The floor's standard deviation over real sets of eval.samples points: the sampling noise of a
    metric at this n, which a difference between trials must exceed to mean anything."""

    sd: dict[str, float]
    method: str


class Evaluator:
    """Holds the real data's statistics, computed once, and scores sample sets against them."""

    def __init__(
        self,
        dataset: GanDataset,
        samples: int,
        classifier: TrainedClassifier | None = None,
        inception: FIDInception | None = None,
        real: RealSide | None = None,
    ):
        """`real`: the real side another evaluator of the same data, samples and feature network computed
        (a sweep's driver, once for all its trials); None computes it here."""
        limit, reason = max_eval_samples(dataset)
        if samples > limit:
            raise ValueError(f"eval.samples {samples} exceeds the {limit} that {dataset.name} allows ({reason})")
        self.dataset, self.samples = dataset, samples
        extractor = FEATURE_EXTRACTORS[dataset.feature_space]
        self.parts = extractor.real_parts(dataset, samples)
        self.extractor = extractor(dataset, self.parts, classifier, inception)
        if real is None:  # computed here, or read from the cache a sweep on the same data and settings left
            key = real_side_key(self.parts.reference, dataset, self.extractor.network_state(), samples)
            real = cached_real_side(key, self.real_side)
        self.real = real
        self.last_histogram: torch.Tensor | None = None  # the last evaluated samples' mode shares

    def real_side(self) -> RealSide:
        """The real reference through the feature network, and every statistic the metrics compare with."""
        real = self.assess(self.parts.reference)
        mu, sigma = features_to_statistics(real.features)
        reference = real.features[: self.samples]  # KID and precision/recall compare equal-sized sets
        return RealSide(mu, sigma, self.extractor.real_histogram(real) if self.dataset.has_modes else None,
                        features_to_manifold(reference), features_to_kid_reference(reference))

    def assess(self, points: torch.Tensor) -> Assessed:
        expected = self.dataset.sample_shape
        if tuple(points.shape[1:]) != expected:
            raise ValueError(f"samples must be N x {' x '.join(map(str, expected))}, got shape {tuple(points.shape)}")
        return self.extractor.assess(points.detach().float().cpu())

    def evaluate(self, points: torch.Tensor) -> dict[str, float]:
        """All metrics of exactly `samples` points: FID and KID are biased by n, so n never varies."""
        if points.shape[0] != self.samples:
            raise ValueError(f"evaluate takes exactly {self.samples} samples (eval.samples), got {points.shape[0]}")
        seen = self.assess(points)
        mu, sigma = features_to_statistics(seen.features)
        kid, kid_sd = reference_to_kid_and_sd(self.real.kid_reference, seen.features)
        metrics = {
            names.FID: statistics_to_fid(self.real.mu, self.real.sigma, mu, sigma),
            names.KID: kid,
            names.KID_SD: kid_sd,
            **manifold_to_prdc(self.real.manifold, seen.features),
        }
        if self.real.histogram is not None:
            metrics.update(modes_to_metrics(seen.mode_index, seen.high_quality, self.real.histogram,
                                            self.extractor.min_mode_share))
            self.last_histogram = mode_histogram(seen.mode_index, self.real.histogram.numel())
        return metrics | self.extractor.class_metrics(seen.probabilities) | self.extractor.constant_metrics()

    def protocol(self) -> str:
        """How every metric of this evaluator is computed, in words: the feature space, n and the real reference."""
        space = self.extractor.protocol()
        return (f"{space}; each evaluation scores {self.samples} generated samples against {self.samples} of "
                f"{len(self.parts.reference)} real ones (FID: all {len(self.parts.reference)}); the floor scores "
                f"{self.parts.origin}")

    def real_floor(self) -> dict[str, float]:
        """The metrics of held-back real points, unseen by the feature network: what a perfect
        generator would score."""
        return self.evaluate(self.parts.floor_pool[: self.samples])

    def floor_spread(self) -> FloorSpread:
        """The floor over FLOOR_SETS disjoint real sets of n where the pool holds two or more, else over
        bootstrap resamples of the floor's points (mnist5k at n = 2000: the pool is just n)."""
        n, pool = self.samples, self.parts.floor_pool
        disjoint = min(FLOOR_SETS, len(pool) // n)
        if disjoint >= 2:
            sets = [pool[i * n : (i + 1) * n] for i in range(disjoint)]
            method = f"{disjoint} disjoint sets of {n} {self.parts.origin}"
        else:
            generator = torch.Generator().manual_seed(SPLIT_SEED)
            sets = [pool[torch.randint(n, (n,), generator=generator)] for _ in range(FLOOR_SETS)]
            method = f"{FLOOR_SETS} bootstrap resamples of the floor's {n} {self.parts.origin}"
        results = [self.evaluate(points) for points in sets]
        varying = [key for key in results[0] if key not in self.extractor.constant_metrics()]
        sd = {key: float(torch.tensor([r[key] for r in results], dtype=torch.float64).std()) for key in varying}
        return FloorSpread(sd, method)
