"""Each dataset name of the search-space file -> the function that builds its data, in one table.

    data = load_dataset(dataset_config("cifar10", limit=1000))

A new dataset is its schema (spec/datasets.py: fields, images or points, feature space; the spec layer
runs without torch) and its loader module (how its files are read and, for one fetched by name, its
`Published` entry: files, checksums, hosts), named in LOADERS below; tests/test_datasets.py checks
that every schema has a loader that gives its feature space.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pipeline.core.data.base import GanDataset
from pipeline.core.data.celeba import celeba
from pipeline.core.data.cifar10 import cifar10
from pipeline.core.data.image_folder import image_folder
from pipeline.core.data.mixtures import grid25, ring8
from pipeline.core.data.mnist import fashion_mnist, mnist
from pipeline.core.data.mnist5k import mnist5k
from pipeline.core.data.stacked import stacked
from pipeline.core.data.tabular import tabular
from pipeline.spec.datasets import DatasetConfig


def stacked_mnist(c: Any) -> GanDataset:
    digits = mnist5k() if c.source == "mnist5k" else mnist(c.path, split=c.split)
    return stacked(digits, c.points, c.seed)


LOADERS: dict[str, Callable[[Any], GanDataset]] = {
    "ring8": lambda c: ring8(),
    "grid25": lambda c: grid25(),
    "mnist5k": lambda c: mnist5k(),
    "mnist": lambda c: mnist(c.path, c.url, c.split),
    "fashion_mnist": lambda c: fashion_mnist(c.path, c.url, c.split),
    "cifar10": lambda c: cifar10(c.path, c.url, c.split, c.limit),
    "celeba": lambda c: celeba(c.path, c.url, c.image_size, c.limit),
    "stacked_mnist": stacked_mnist,
    "image_folder": lambda c: image_folder(c.path, c.image_size, c.channels, c.limit),
    "tabular": lambda c: tabular(c.path),
}


def load_dataset(config: DatasetConfig) -> GanDataset:
    """Raises DatasetError, naming the path or URL, for missing, malformed or undownloadable files."""
    return LOADERS[config.name](config)
