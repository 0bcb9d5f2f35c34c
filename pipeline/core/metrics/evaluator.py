"""One evaluation of a generator's samples against a dataset: FID, KID, precision/recall,
density/coverage and mode-collapse metrics, plus the class score for digits.

    evaluator = Evaluator(dataset, samples=2000, classifier=cached_classifier(dataset))
    metrics = evaluator.evaluate(generated)          # {'fid': ..., 'modes': ..., ...}
    floor = evaluator.real_floor()                   # the same metrics for held-back real data
    spread = evaluator.floor_spread()                # how much the floor moves between real sets of n

The floor's real points are unseen by the feature network, as generated points are: for digits they
come from the split the classifier was trained around (pipeline/core/metrics/split.py).

Feature space: raw coordinates for 2D and tabular data; the digit classifier's penultimate layer
for digits (stacked MNIST: the three channels' features side by side); FID Inception pool features
for image folders.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from pipeline.core.data import GanDataset
from pipeline.core.data.stacked import channel_digits, stacked
from pipeline.core.metrics.class_score import probabilities_to_class_score, probabilities_to_inception_score
from pipeline.core.metrics.classifier import TrainedClassifier, classify
from pipeline.core.metrics.fid import features_to_statistics, statistics_to_fid
from pipeline.core.metrics.inception import FIDInception, inception_outputs
from pipeline.core.metrics.kid import KidReference, features_to_kid_reference, reference_to_kid_and_sd
from pipeline.core.metrics.manifold import RealManifold, features_to_manifold, manifold_to_prdc
from pipeline.core.metrics.modes import (
    DIGIT_MIN_MODE_SHARE,
    HQ_CONFIDENCE,
    mode_histogram,
    modes_to_metrics,
    points_to_modes,
    probabilities_to_modes,
    smoothed_histogram,
    stacked_histogram,
)
from pipeline.core.metrics.split import SPLIT_SEED, digit_split
from pipeline.spec import metric_names as names
from pipeline.spec.feature_spaces import DIGITS, INCEPTION, STACKED_DIGITS

FLOOR_SETS = 5  # the floor's spread: its sd over 5 real sets of eval.samples points


def needs_classifier(dataset: GanDataset) -> bool:
    return dataset.needs_digit_classifier


def digit_source(dataset: GanDataset) -> GanDataset:
    """The digits a classifier is trained on: the data itself, or what stacked MNIST stacks."""
    return dataset.source if dataset.source is not None else dataset


@dataclass(frozen=True)
class RealParts:
    """The real data an evaluator holds: the reference that samples are compared with, and the pool
    of points for the floor, which the feature network never saw."""

    reference: torch.Tensor
    floor_pool: torch.Tensor
    origin: str  # where the floor's points come from, for people
    split_key: str | None = None  # digits: the DigitSplit the classifier must have been trained on


def real_parts(dataset: GanDataset, samples: int) -> RealParts:
    """Digits: the classifier's split (stacked MNIST: stacks of its reference digits, and of its floor
    digits). Other data: `samples` random points held back, the rest the reference."""
    if needs_classifier(dataset):
        split = digit_split(digit_source(dataset))
        if dataset.feature_space == STACKED_DIGITS:
            reference = stacked(split.reference, len(dataset) - samples, SPLIT_SEED).points
            floor_pool = stacked(split.floor, FLOOR_SETS * samples, SPLIT_SEED + 1).points
            return RealParts(reference, floor_pool, f"stacks of digits {split.origin}", split.key)
        return RealParts(split.reference.points, split.floor.points, f"digits {split.origin}", split.key)
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(SPLIT_SEED))
    return RealParts(dataset.points[order[samples:]], dataset.points[order[:samples]],
                     f"points held back from {dataset.name}")


def max_eval_samples(dataset: GanDataset) -> tuple[int, str]:
    """The most eval.samples this data allows, and why: the floor and the reference need that many."""
    if dataset.feature_space == DIGITS:
        split = digit_split(dataset)
        limit = min(len(split.floor), len(split.reference))
        return limit, (f"{len(split.floor)} real digits {split.origin} are kept unseen by the feature "
                       f"classifier for the floor, {len(split.reference)} are its reference")
    return len(dataset) // 2, f"{len(dataset)} points: half are held back as the real reference"


@dataclass(frozen=True)
class FloorSpread:
    """The floor's standard deviation over real sets of eval.samples points: the sampling noise of a
    metric at this n, which a difference between trials must exceed to mean anything."""

    sd: dict[str, float]
    method: str


@dataclass(frozen=True)
class Assessed:
    """Real or generated points seen by the evaluator."""

    features: torch.Tensor
    mode_index: torch.Tensor | None  # None where the data has no known modes
    high_quality: torch.Tensor | None
    probabilities: torch.Tensor | None  # digits: the classifier's; natural images: Inception's 1008 classes


@dataclass(frozen=True)
class RealSide:
    """What every evaluation compares generated samples with, computed from the real reference once:
    for Inception features of CIFAR-10 that is minutes of GPU, so a sweep computes it in the driver and
    hands it to every trial (sweep/trial.py)."""

    mu: torch.Tensor
    sigma: torch.Tensor
    histogram: torch.Tensor | None  # the real mode shares, where the data has modes
    manifold: RealManifold  # precision/recall and density/coverage's k-NN radii of the reference
    kid_reference: KidReference  # KID's kernel terms of the reference


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
        if dataset.feature_space == INCEPTION and inception is None:
            raise ValueError("image_folder data is scored on FID Inception features: set eval.inception_weights")
        if needs_classifier(dataset) and classifier is None:
            raise ValueError(f"{dataset.name} is digit data: its evaluation needs the digit classifier")
        limit, reason = max_eval_samples(dataset)
        if samples > limit:
            raise ValueError(f"eval.samples {samples} exceeds the {limit} that {dataset.name} allows ({reason})")
        self.dataset, self.samples = dataset, samples
        self.parts = real_parts(dataset, samples)
        if classifier is not None and classifier.split_key != self.parts.split_key:
            raise ValueError(f"the {dataset.name} classifier was trained on another split of the data "
                             f"({classifier.split_key}, not {self.parts.split_key}): its floor would not be unseen")
        self.classifier = classifier.build() if classifier is not None else None
        self.inception = inception
        self.real = self.real_side() if real is None else real
        self.min_mode_share = DIGIT_MIN_MODE_SHARE if needs_classifier(dataset) else 0.0  # 2D: PacGAN's 1 sample
        self.extra = {names.CLASSIFIER_ACCURACY: classifier.held_out_accuracy} if classifier else {}
        self.last_histogram: torch.Tensor | None = None  # the last evaluated samples' mode shares

    def real_side(self) -> RealSide:
        """The real reference through the feature network, and every statistic the metrics compare with."""
        real = self.assess(self.parts.reference)
        mu, sigma = features_to_statistics(real.features)
        reference = real.features[: self.samples]  # KID and precision/recall compare equal-sized sets
        return RealSide(mu, sigma, self.histogram_of_real(real) if self.dataset.has_modes else None,
                        features_to_manifold(reference), features_to_kid_reference(reference))

    def histogram_of_real(self, real: Assessed) -> torch.Tensor:
        if self.dataset.feature_space == STACKED_DIGITS:
            return stacked_histogram(real.mode_index)
        return smoothed_histogram(real.mode_index, self.dataset.num_modes)

    def assess(self, points: torch.Tensor) -> Assessed:
        expected = self.dataset.sample_shape
        if tuple(points.shape[1:]) != expected:
            raise ValueError(f"samples must be N x {' x '.join(map(str, expected))}, got shape {tuple(points.shape)}")
        points = points.detach().float().cpu()
        if self.inception is not None:
            features, probabilities = inception_outputs(self.inception, points)
            return Assessed(features, None, None, probabilities)
        if self.dataset.centres is not None:
            return Assessed(points, *points_to_modes(points, self.dataset.centres, self.dataset.std), None)
        if self.classifier is None:  # tabular: standardized columns, no modes
            return Assessed(points, None, None, None)
        if self.dataset.feature_space == STACKED_DIGITS:
            return self.assess_stacked(points)
        features, probabilities = classify(self.classifier, points)
        return Assessed(features, *probabilities_to_modes(probabilities), probabilities)

    def assess_stacked(self, points: torch.Tensor) -> Assessed:
        """Each channel a digit: features side by side, mode 100 r + 10 g + b, confident in all three."""
        features, probabilities = classify(self.classifier, channel_digits(points))
        count = points.shape[0]
        per_channel = probabilities.view(count, 3, -1)
        confidence, digit = per_channel.max(dim=2)
        joint = torch.einsum("ni,nj,nk->nijk", per_channel[:, 0], per_channel[:, 1], per_channel[:, 2])
        mode = digit[:, 0] * 100 + digit[:, 1] * 10 + digit[:, 2]
        return Assessed(features.view(count, -1), mode, (confidence >= HQ_CONFIDENCE).all(dim=1), joint.view(count, -1))

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
                                            self.min_mode_share))
            self.last_histogram = mode_histogram(seen.mode_index, self.real.histogram.numel())
        if self.inception is not None:
            metrics[names.INCEPTION_SCORE], metrics[names.INCEPTION_SCORE_SD] = probabilities_to_inception_score(
                seen.probabilities)
        elif seen.probabilities is not None:
            metrics[names.CLASS_SCORE] = probabilities_to_class_score(seen.probabilities)
        return metrics | self.extra

    def protocol(self) -> str:
        """How every metric of this evaluator is computed, in words: the feature space, n and the real reference."""
        space = {
            INCEPTION: "FID Inception pool features (images resized bilinearly to 299 px, as pytorch-fid does); "
                       "Inception Score over its 1008 classes in 10 splits",
            DIGITS: f"the penultimate layer of a classifier trained on {self.dataset.name}'s own classes "
                    f"(not comparable with Inception FIDs)",
            STACKED_DIGITS: "the digit classifier on each of the three channels, features side by side",
        }.get(self.dataset.feature_space, "the points' own coordinates")
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
        varying = [key for key in results[0] if key not in self.extra]
        sd = {key: float(torch.tensor([r[key] for r in results], dtype=torch.float64).std()) for key in varying}
        return FloorSpread(sd, method)
