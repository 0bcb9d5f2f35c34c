"""The feature spaces metrics are computed in, one registered extractor each (torch-fidelity's
`register_feature_extractor` is the model): how points become features, mode assignments and class
probabilities, which real points are the reference and which the floor, the most samples the data
allows, and the words the protocol uses. The Evaluator asks the dataset's extractor; nothing else
branches on a feature space.

    extractor = FEATURE_EXTRACTORS[dataset.feature_space]
    parts = extractor.real_parts(dataset, samples)
    seen = extractor(dataset, parts, classifier, inception).assess(points)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from pipeline.core.data import GanDataset
from pipeline.core.data.stacked import channel_digits, stacked
from pipeline.core.metrics.class_score import probabilities_to_class_score, probabilities_to_inception_score
from pipeline.core.metrics.classifier import TrainedClassifier, classify
from pipeline.core.metrics.inception import FIDInception, inception_outputs
from pipeline.core.metrics.modes import (
    DIGIT_MIN_MODE_SHARE,
    HQ_CONFIDENCE,
    points_to_modes,
    probabilities_to_modes,
    smoothed_histogram,
    stacked_histogram,
)
from pipeline.core.metrics.split import SPLIT_SEED, digit_split
from pipeline.spec import metric_names as names
from pipeline.spec.feature_spaces import CLASSIFIER, COORDINATES, INCEPTION, STACKED_DIGITS

FLOOR_SETS = 5  # the floor's spread: its sd over 5 real sets of eval.samples points


@dataclass(frozen=True)
class RealParts:
    """The real data an evaluator holds: the reference that samples are compared with, and the pool
    of points for the floor, which the feature network never saw."""

    reference: torch.Tensor
    floor_pool: torch.Tensor
    origin: str  # where the floor's points come from, for people
    split_key: str | None = None  # classifier spaces: the split the classifier must have been trained on


@dataclass(frozen=True)
class Assessed:
    """Real or generated points seen by an extractor."""

    features: torch.Tensor
    mode_index: torch.Tensor | None  # None where the data has no known modes
    high_quality: torch.Tensor | None
    probabilities: torch.Tensor | None  # a classifier's; Inception's 1008 classes


def half_held_back(dataset: GanDataset) -> tuple[int, str]:
    return len(dataset) // 2, f"{len(dataset)} points: half are held back as the real reference"


class FeatureExtractor:
    """A feature space: the points' own coordinates unless a subclass says otherwise."""

    space: ClassVar[str]
    min_mode_share: ClassVar[float] = 0.0  # 2D mixtures: PacGAN's one sample makes a mode covered
    needs_classifier: ClassVar[bool] = False  # a classifier of the data's classes, trained once per dataset
    needs_inception: ClassVar[bool] = False  # the FID Inception network and its weights

    def __init__(self, dataset: GanDataset, parts: RealParts, classifier: TrainedClassifier | None = None,
                 inception: FIDInception | None = None):
        self.dataset = dataset

    @classmethod
    def real_parts(cls, dataset: GanDataset, samples: int) -> RealParts:
        """`samples` random points held back for the floor; the rest the reference."""
        order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(SPLIT_SEED))
        return RealParts(dataset.points[order[samples:]], dataset.points[order[:samples]],
                         f"points held back from {dataset.name}")

    @classmethod
    def max_eval_samples(cls, dataset: GanDataset) -> tuple[int, str]:
        """The most eval.samples this data allows, and why: the floor and the reference need that many."""
        return half_held_back(dataset)

    def assess(self, points: torch.Tensor) -> Assessed:
        raise NotImplementedError

    def real_histogram(self, real: Assessed) -> torch.Tensor:
        """The real data's mode shares, smoothed so that no mode has a share of 0."""
        return smoothed_histogram(real.mode_index, self.dataset.num_modes)

    def class_metrics(self, probabilities: torch.Tensor | None) -> dict[str, float]:
        """What the class probabilities score (the class score, the Inception Score), if any."""
        return {}

    def constant_metrics(self) -> dict[str, float]:
        """Facts about the extractor reported beside every evaluation (a classifier's accuracy)."""
        return {}

    def network_state(self) -> dict[str, torch.Tensor] | None:
        """The feature network's weights, where there is one: part of what the real side is cached by."""
        return None

    def protocol(self) -> str:
        raise NotImplementedError


FEATURE_EXTRACTORS: dict[str, type[FeatureExtractor]] = {}


def register_feature_extractor(extractor: type[FeatureExtractor]) -> type[FeatureExtractor]:
    """Make `extractor` the one for its feature space: a dataset naming that space is scored by it."""
    FEATURE_EXTRACTORS[extractor.space] = extractor
    return extractor


@register_feature_extractor
class Coordinates(FeatureExtractor):
    """2D mixtures (modes by their centres) and standardized table columns (no modes)."""

    space = COORDINATES

    def assess(self, points: torch.Tensor) -> Assessed:
        if self.dataset.centres is None:
            return Assessed(points, None, None, None)
        return Assessed(points, *points_to_modes(points, self.dataset.centres, self.dataset.std), None)

    def protocol(self) -> str:
        return "the points' own coordinates"


@register_feature_extractor
class DomainClassifier(FeatureExtractor):
    """The penultimate layer of a classifier trained on the dataset's own classes (MNIST's digits,
    Fashion-MNIST's clothes); its classes are the modes."""

    space = CLASSIFIER
    min_mode_share = DIGIT_MIN_MODE_SHARE
    needs_classifier = True

    def __init__(self, dataset: GanDataset, parts: RealParts, classifier: TrainedClassifier | None = None,
                 inception: FIDInception | None = None):
        super().__init__(dataset, parts)
        if classifier is None:
            raise ValueError(f"{dataset.name} is scored by a classifier of its classes: its evaluation needs one")
        if classifier.split_key != parts.split_key:
            raise ValueError(f"the {dataset.name} classifier was trained on another split of the data "
                             f"({classifier.split_key}, not {parts.split_key}): its floor would not be unseen")
        self.trained, self.network = classifier, classifier.build()

    @classmethod
    def real_parts(cls, dataset: GanDataset, samples: int) -> RealParts:
        """The classifier's split: its reference, and the floor it never saw."""
        split = digit_split(dataset)
        return RealParts(split.reference.points, split.floor.points, f"digits {split.origin}", split.key)

    @classmethod
    def max_eval_samples(cls, dataset: GanDataset) -> tuple[int, str]:
        split = digit_split(dataset)
        return min(len(split.floor), len(split.reference)), (
            f"{len(split.floor)} real digits {split.origin} are kept unseen by the feature classifier for the "
            f"floor, {len(split.reference)} are its reference")

    def assess(self, points: torch.Tensor) -> Assessed:
        features, probabilities = classify(self.network, points)
        return Assessed(features, *probabilities_to_modes(probabilities), probabilities)

    def class_metrics(self, probabilities: torch.Tensor | None) -> dict[str, float]:
        return {names.CLASS_SCORE: probabilities_to_class_score(probabilities)}

    def constant_metrics(self) -> dict[str, float]:
        return {names.CLASSIFIER_ACCURACY: self.trained.held_out_accuracy}

    def network_state(self) -> dict[str, torch.Tensor] | None:
        return self.trained.state_dict

    def protocol(self) -> str:
        return (f"the penultimate layer of a classifier trained on {self.dataset.name}'s own classes "
                f"(not comparable with Inception FIDs)")


@register_feature_extractor
class StackedDomainClassifier(DomainClassifier):
    """Stacked MNIST: the digit classifier on each channel, features side by side; 1000 modes."""

    space = STACKED_DIGITS

    @classmethod
    def real_parts(cls, dataset: GanDataset, samples: int) -> RealParts:
        """Stacks of the classifier's reference digits, and of its floor digits."""
        split = digit_split(dataset.source)
        reference = stacked(split.reference, len(dataset) - samples, SPLIT_SEED).points
        floor_pool = stacked(split.floor, FLOOR_SETS * samples, SPLIT_SEED + 1).points
        return RealParts(reference, floor_pool, f"stacks of digits {split.origin}", split.key)

    @classmethod
    def max_eval_samples(cls, dataset: GanDataset) -> tuple[int, str]:
        return half_held_back(dataset)  # stacks are drawn from the split's digits: as many as wanted

    def assess(self, points: torch.Tensor) -> Assessed:
        """Each channel a digit: mode 100 r + 10 g + b, of high quality when all three are confident."""
        features, probabilities = classify(self.network, channel_digits(points))
        count = points.shape[0]
        per_channel = probabilities.view(count, 3, -1)
        confidence, digit = per_channel.max(dim=2)
        joint = torch.einsum("ni,nj,nk->nijk", per_channel[:, 0], per_channel[:, 1], per_channel[:, 2])
        mode = digit[:, 0] * 100 + digit[:, 1] * 10 + digit[:, 2]
        return Assessed(features.view(count, -1), mode, (confidence >= HQ_CONFIDENCE).all(dim=1), joint.view(count, -1))

    def real_histogram(self, real: Assessed) -> torch.Tensor:
        return stacked_histogram(real.mode_index)

    def protocol(self) -> str:
        return "the digit classifier on each of the three channels, features side by side"


@register_feature_extractor
class Inception(FeatureExtractor):
    """FID Inception's pool features (pytorch-fid's network and weights), and its 1008 classes for the
    Inception Score."""

    space = INCEPTION
    needs_inception = True

    def __init__(self, dataset: GanDataset, parts: RealParts, classifier: TrainedClassifier | None = None,
                 inception: FIDInception | None = None):
        super().__init__(dataset, parts)
        if inception is None:
            raise ValueError(f"{dataset.name} is scored on FID Inception features: set eval.inception_weights")
        self.network = inception

    def network_state(self) -> dict[str, torch.Tensor] | None:
        return self.network.state_dict()

    def assess(self, points: torch.Tensor) -> Assessed:
        features, probabilities = inception_outputs(self.network, points)
        return Assessed(features, None, None, probabilities)

    def class_metrics(self, probabilities: torch.Tensor | None) -> dict[str, float]:
        score, sd = probabilities_to_inception_score(probabilities)
        return {names.INCEPTION_SCORE: score, names.INCEPTION_SCORE_SD: sd}

    def protocol(self) -> str:
        return ("FID Inception pool features (images resized bilinearly to 299 px, as pytorch-fid does); "
                "Inception Score over its 1008 classes in 10 splits")
