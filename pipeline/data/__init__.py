"""Datasets for GAN trials, all as one `GanDataset` shape; they import neither ray nor mlflow.

    from pipeline.data import load_dataset
    data = load_dataset(DatasetConfig(name="ring8"))
"""

from pipeline.data.base import BatchSampler, GanDataset
from pipeline.data.registry import load_dataset

__all__ = ["BatchSampler", "GanDataset", "load_dataset"]
