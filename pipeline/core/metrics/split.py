"""One fixed split of a digit dataset's real points, shared by its feature classifier and its evaluator.

Generated digits are always unseen by the classifier, so the floor (real against real) is only a fair
"perfect generator" when its real points are unseen too:

    reference  the classifier trains on these; generated and floor features are compared with them
    accuracy   the classifier's held-out accuracy, and nothing else
    floor      the pool the floor's real points are drawn from: never trained on, never in the accuracy

    split = digit_split(load_dataset(dataset_config("mnist5k")))   # 2500 / 500 / 2000 digits
    split = digit_split(full_mnist)   # its test split, when the folder has one, gives accuracy and floor
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

import torch

from pipeline.core.data import GanDataset

SPLIT_SEED = 0  # one fixed split for every trial and sweep: a new seed would be a new classifier
ACCURACY_SHARE = 0.1  # 50 digits a class on mnist5k: its accuracy to about +-0.7 points
FLOOR_SHARE = 0.4  # 2000 of mnist5k's 5000: the main job's eval.samples; the classifier keeps half


@dataclass(frozen=True)
class DigitSplit:
    reference: GanDataset
    accuracy: GanDataset
    floor: GanDataset
    origin: str  # where accuracy and floor come from, for people: "held back from mnist5k", "from mnist's test split"

    @property
    def key(self) -> str:
        """A hash of the three parts' contents: a classifier cached for another split is never reused."""
        digest = hashlib.sha256()
        for part in (self.reference, self.accuracy, self.floor):
            digest.update(part.points.numpy().tobytes())
            digest.update(part.labels.numpy().tobytes())
        return digest.hexdigest()[:20]


def subset(dataset: GanDataset, indices: torch.Tensor) -> GanDataset:
    return replace(dataset, points=dataset.points[indices], labels=dataset.labels[indices], unseen=None)


def stratified_order(labels: torch.Tensor, shares: tuple[float, ...], seed: int) -> list[torch.Tensor]:
    """Indices cut into len(shares) + 1 parts, each class shuffled and cut by the same shares, so
    every part has the data's class balance; the last part takes what the shares leave. Each part is
    in random order."""
    generator = torch.Generator().manual_seed(seed)
    parts: list[list[torch.Tensor]] = [[] for _ in range(len(shares) + 1)]
    for label in labels.unique().tolist():
        members = torch.nonzero(labels == label).flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        start = 0
        for part, share in zip(parts, shares, strict=False):
            count = round(share * len(members))
            part.append(members[start : start + count])
            start += count
        parts[-1].append(members[start:])
    joined = [torch.cat(part) for part in parts]
    # shuffled again across classes: any first n of a part (the floor's first set) is class-balanced
    return [part[torch.randperm(len(part), generator=generator)] for part in joined]


def digit_split(digits: GanDataset) -> DigitSplit:
    """The fixed split of digit data. With an unseen split beside it (full MNIST's test files), all of
    the data is the reference and the unseen split gives accuracy and floor; else both are held back."""
    if digits.unseen is not None:
        accuracy, floor = stratified_order(digits.unseen.labels, (ACCURACY_SHARE,), SPLIT_SEED)
        return DigitSplit(replace(digits, unseen=None), subset(digits.unseen, accuracy), subset(digits.unseen, floor),
                          f"from {digits.name}'s test split")
    accuracy, floor, reference = stratified_order(digits.labels, (ACCURACY_SHARE, FLOOR_SHARE), SPLIT_SEED)
    return DigitSplit(subset(digits, reference), subset(digits, accuracy), subset(digits, floor),
                      f"held back from {digits.name}")
