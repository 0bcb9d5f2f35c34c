"""The digit classifier that gives FID its features and mode counts their classes.

Trained once per dataset on the reference part of its fixed split (pipeline/core/metrics/split.py: half
of mnist5k; the floor's digits and the accuracy's are never trained on) and cached on disk, keyed by
a hash of that split and of this recipe, so every trial of every sweep on the same data shares one
network.

    classifier = cached_classifier(dataset)     # trains on first use (~20 s on 2 CPU cores)
"""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from pipeline.core.data import GanDataset
from pipeline.core.metrics.split import DigitSplit, digit_split

RECIPE = "lenet-v3"  # bump when the architecture or the training below changes: old caches go stale
EPOCHS = 25  # on 2,500 mnist5k digits: 97.4% on the 2,500 unseen ones (15 epochs: 97.0%, 40: 97.8%)
BATCH = 64
LR = 1e-3  # Adam's default, annealed to 0 over the epochs
SHIFT = 2  # random translations of up to 2 pixels: 2,500 training digits need augmentation
FEATURE_DIM = 128


class DigitClassifier(nn.Module):
    """LeNet-like: two conv blocks, a 128-unit penultimate layer (the FID features), class logits."""

    def __init__(self, channels: int = 1, classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 5 * 5, FEATURE_DIM), nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(FEATURE_DIM, classes))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(features N x 128, logits N x classes) for N x C x 28 x 28 images in [-1, 1]."""
        features = self.features(images)
        return features, self.head(features)


@dataclass(frozen=True)
class TrainedClassifier:
    state_dict: dict
    held_out_accuracy: float  # on the split's accuracy part, which it never trained on
    split_key: str  # DigitSplit.key of the data it was trained on: the evaluator checks it

    def build(self) -> DigitClassifier:
        model = DigitClassifier()
        model.load_state_dict(self.state_dict)
        return model.eval().to(memory_format=torch.channels_last)  # ~1.5x faster convolutions on CPU


def cache_dir() -> Path:
    if "PIPELINE_CACHE_DIR" in os.environ:
        return Path(os.environ["PIPELINE_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "gan-sweep"


def classifier_path(dataset: GanDataset) -> Path:
    """Where the classifier of this data's split is cached: the name says the data, recipe and split."""
    key = hashlib.sha256(f"{RECIPE}-{digit_split(dataset).key}".encode()).hexdigest()[:20]
    return cache_dir() / "classifiers" / f"{dataset.name}-{key}.pt"


def cached_classifier(dataset: GanDataset) -> TrainedClassifier:
    """Load the classifier for this data from the cache, or train it and store it there."""
    path = classifier_path(dataset)
    if path.exists():
        saved = torch.load(path, weights_only=True)
        return TrainedClassifier(saved["state_dict"], saved["held_out_accuracy"], saved["split_key"])
    split = digit_split(dataset)
    # progress on stderr: stdout may be a machine-read result (`python -m pipeline.evaluate --json`)
    print(f"Training the {dataset.name} feature classifier once on {len(split.reference)} digits "
          f"(cached at {path}) ...", file=sys.stderr, flush=True)
    trained = train_classifier(split)
    print(f"  accuracy {trained.held_out_accuracy:.4f} on {len(split.accuracy)} digits {split.origin}",
          file=sys.stderr, flush=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    torch.save({"state_dict": trained.state_dict, "held_out_accuracy": trained.held_out_accuracy,
                "split_key": trained.split_key, "recipe": RECIPE}, partial)
    partial.replace(path)  # atomic: concurrent sweeps never read half a file
    return trained


def train_classifier(split: DigitSplit, seed: int = 0, epochs: int = EPOCHS) -> TrainedClassifier:
    """Trains on the split's reference part only; its accuracy is measured on the accuracy part."""
    torch.manual_seed(seed)
    images, labels = split.reference.points, split.reference.labels
    model = DigitClassifier(channels=images.shape[1], classes=split.reference.num_modes)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        for batch in torch.randperm(len(images), generator=generator).split(BATCH):
            _, logits = model(random_shift(images[batch], generator))
            loss = nn.functional.cross_entropy(logits, labels[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        schedule.step()
    model.eval()
    accuracy = classifier_accuracy(model, split.accuracy)
    return TrainedClassifier({k: v.clone() for k, v in model.state_dict().items()}, accuracy, split.key)


def classifier_accuracy(model: DigitClassifier, digits: GanDataset) -> float:
    predicted = classify(model, digits.points)[1].argmax(1)
    return float((predicted == digits.labels).double().mean())


def random_shift(images: torch.Tensor, generator: torch.Generator, pad: int = SHIFT) -> torch.Tensor:
    """Each image moved by up to `pad` pixels in x and y, the border filled with background (-1)."""
    padded = nn.functional.pad(images, (pad, pad, pad, pad), value=-1.0)
    offsets = torch.randint(0, 2 * pad + 1, (images.shape[0], 2), generator=generator).tolist()
    height, width = images.shape[2:]
    return torch.stack([padded[i, :, dy : dy + height, dx : dx + width] for i, (dy, dx) in enumerate(offsets)])


@torch.no_grad()
def classify(model: DigitClassifier, images: torch.Tensor, batch: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """(features, class probabilities) in batches, so memory does not grow with N."""
    outputs = [model(chunk.contiguous(memory_format=torch.channels_last)) for chunk in images.split(batch)]
    features = torch.cat([f for f, _ in outputs])
    probabilities = torch.cat([logits.softmax(1) for _, logits in outputs])
    return features, probabilities
