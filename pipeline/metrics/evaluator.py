"""One evaluation of a generator's samples against a dataset: FID and mode-collapse metrics.

    evaluator = Evaluator(dataset, samples=2000, classifier=cached_classifier(dataset))
    metrics = evaluator.evaluate(generated)          # {'fid': ..., 'modes': ..., ...}
    floor = evaluator.real_floor()                   # the same metrics for real data
"""

from __future__ import annotations

import torch

from pipeline import metric_names as names
from pipeline.data import GanDataset
from pipeline.metrics.classifier import TrainedClassifier, classify
from pipeline.metrics.fid import features_to_statistics, statistics_to_fid
from pipeline.metrics.modes import mode_histogram, modes_to_metrics, points_to_modes, probabilities_to_modes


class Evaluator:
    """Holds the real data's statistics, computed once, and scores sample sets against them."""

    def __init__(self, dataset: GanDataset, samples: int, classifier: TrainedClassifier | None = None):
        if dataset.is_image and classifier is None:
            raise ValueError(f"{dataset.name} is image data: its evaluation needs the digit classifier")
        self.dataset, self.samples = dataset, samples
        self.classifier = classifier.build() if classifier is not None else None
        features, index, _ = self.features_and_modes(dataset.points)
        self.real_mu, self.real_sigma = features_to_statistics(features)
        self.real_histogram = mode_histogram(index, dataset.num_modes)
        self.extra = {"classifier_accuracy": classifier.held_out_accuracy} if classifier else {}

    def features_and_modes(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(features, mode index, is-high-quality) for real or generated points."""
        expected = self.dataset.sample_shape
        if tuple(points.shape[1:]) != expected:
            raise ValueError(f"samples must be N x {' x '.join(map(str, expected))}, got shape {tuple(points.shape)}")
        points = points.detach().float().cpu()
        if self.classifier is None:
            return (points, *points_to_modes(points, self.dataset.centres, self.dataset.std))
        features, probabilities = classify(self.classifier, points)
        return (features, *probabilities_to_modes(probabilities))

    def evaluate(self, points: torch.Tensor) -> dict[str, float]:
        features, index, high_quality = self.features_and_modes(points)
        mu, sigma = features_to_statistics(features)
        metrics = {names.FID: statistics_to_fid(self.real_mu, self.real_sigma, mu, sigma)}
        metrics.update(modes_to_metrics(index, high_quality, self.real_histogram))
        return metrics | self.extra

    def real_floor(self, seed: int = 0) -> dict[str, float]:
        """The metrics of `samples` real points: what a perfect generator would score."""
        generator = torch.Generator().manual_seed(seed)
        pick = torch.randperm(len(self.dataset), generator=generator)[: self.samples]
        return self.evaluate(self.dataset.points[pick])
