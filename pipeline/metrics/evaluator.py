"""One evaluation of a generator's samples against a dataset: FID, KID, precision/recall,
density/coverage and mode-collapse metrics, plus the class score for digits.

    evaluator = Evaluator(dataset, samples=2000, classifier=cached_classifier(dataset))
    metrics = evaluator.evaluate(generated)          # {'fid': ..., 'modes': ..., ...}
    floor = evaluator.real_floor()                   # the same metrics for held-back real data

Feature space: the raw coordinates for 2D data, the digit classifier's penultimate layer for digits.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from pipeline import metric_names as names
from pipeline.data import GanDataset
from pipeline.metrics.class_score import probabilities_to_class_score
from pipeline.metrics.classifier import TrainedClassifier, classify
from pipeline.metrics.fid import features_to_statistics, statistics_to_fid
from pipeline.metrics.kid import features_to_kid_reference, reference_to_kid
from pipeline.metrics.manifold import features_to_manifold, manifold_to_prdc
from pipeline.metrics.modes import (
    DIGIT_MIN_MODE_SHARE,
    mode_histogram,
    modes_to_metrics,
    points_to_modes,
    probabilities_to_modes,
)

SPLIT_SEED = 0  # one fixed split of the real data for every trial and sweep


@dataclass(frozen=True)
class Assessed:
    """Real or generated points seen by the evaluator."""

    features: torch.Tensor
    mode_index: torch.Tensor
    high_quality: torch.Tensor
    probabilities: torch.Tensor | None  # digits only


class Evaluator:
    """Holds the real data's statistics, computed once, and scores sample sets against them."""

    def __init__(self, dataset: GanDataset, samples: int, classifier: TrainedClassifier | None = None):
        if dataset.is_image and classifier is None:
            raise ValueError(f"{dataset.name} is image data: its evaluation needs the digit classifier")
        if 2 * samples > len(dataset):
            raise ValueError(f"eval.samples {samples} exceeds half of the {len(dataset)} points of {dataset.name}: "
                             "the other half is needed as the real reference")
        self.dataset, self.samples = dataset, samples
        self.classifier = classifier.build() if classifier is not None else None
        # The real data split once: `samples` points held back for the floor, the rest the reference.
        order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(SPLIT_SEED))
        self.floor_points = dataset.points[order[:samples]]
        real = self.assess(dataset.points[order[samples:]])
        self.real_mu, self.real_sigma = features_to_statistics(real.features)
        self.real_histogram = mode_histogram(real.mode_index, dataset.num_modes)
        self.reference = real.features[:samples]  # KID and precision/recall compare equal-sized sets
        self.manifold = features_to_manifold(self.reference)
        self.kid_reference = features_to_kid_reference(self.reference)
        self.min_mode_share = DIGIT_MIN_MODE_SHARE if dataset.is_image else 0.0  # 2D: PacGAN's one sample
        self.extra = {names.CLASSIFIER_ACCURACY: classifier.held_out_accuracy} if classifier else {}

    def assess(self, points: torch.Tensor) -> Assessed:
        expected = self.dataset.sample_shape
        if tuple(points.shape[1:]) != expected:
            raise ValueError(f"samples must be N x {' x '.join(map(str, expected))}, got shape {tuple(points.shape)}")
        points = points.detach().float().cpu()
        if self.classifier is None:
            return Assessed(points, *points_to_modes(points, self.dataset.centres, self.dataset.std), None)
        features, probabilities = classify(self.classifier, points)
        return Assessed(features, *probabilities_to_modes(probabilities), probabilities)

    def evaluate(self, points: torch.Tensor) -> dict[str, float]:
        """All metrics of exactly `samples` points: FID and KID are biased by n, so n never varies."""
        if points.shape[0] != self.samples:
            raise ValueError(f"evaluate takes exactly {self.samples} samples (eval.samples), got {points.shape[0]}")
        seen = self.assess(points)
        mu, sigma = features_to_statistics(seen.features)
        metrics = {
            names.FID: statistics_to_fid(self.real_mu, self.real_sigma, mu, sigma),
            names.KID: reference_to_kid(self.kid_reference, seen.features),
            **manifold_to_prdc(self.manifold, seen.features),
            **modes_to_metrics(seen.mode_index, seen.high_quality, self.real_histogram, self.min_mode_share),
        }
        if seen.probabilities is not None:
            metrics[names.CLASS_SCORE] = probabilities_to_class_score(seen.probabilities)
        return metrics | self.extra

    def real_floor(self) -> dict[str, float]:
        """The metrics of held-back real points: what a perfect generator would score."""
        return self.evaluate(self.floor_points)
