"""Dataset configs of the search-space file -> the functions that build them."""

from __future__ import annotations

from pipeline.core.data.base import GanDataset
from pipeline.core.data.image_folder import image_folder
from pipeline.core.data.mixtures import grid25, ring8
from pipeline.core.data.mnist import mnist
from pipeline.core.data.mnist5k import mnist5k
from pipeline.core.data.stacked import stacked
from pipeline.core.data.tabular import tabular
from pipeline.spec.config import DatasetConfig


def load_dataset(config: DatasetConfig) -> GanDataset:
    """Raises DatasetError, naming the path, for missing or malformed files."""
    if config.name == "ring8":
        return ring8()
    if config.name == "grid25":
        return grid25()
    if config.name == "mnist5k":
        return mnist5k()
    if config.name == "mnist":
        return mnist(config.path, config.split)
    if config.name == "stacked_mnist":
        digits = mnist5k() if config.source == "mnist5k" else mnist(config.path, config.split)
        return stacked(digits, config.points, config.seed)
    if config.name == "image_folder":
        return image_folder(config.path, config.image_size, config.channels, config.limit)
    return tabular(config.path)
