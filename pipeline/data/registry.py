"""Dataset names of the search-space file -> the functions that build them."""

from __future__ import annotations

from collections.abc import Callable

from pipeline.config import DatasetConfig
from pipeline.data.base import GanDataset
from pipeline.data.mixtures import grid25, ring8
from pipeline.data.mnist5k import mnist5k

BUILDERS: dict[str, Callable[[], GanDataset]] = {"ring8": ring8, "grid25": grid25, "mnist5k": mnist5k}


def load_dataset(config: DatasetConfig) -> GanDataset:
    return BUILDERS[config.name]()
