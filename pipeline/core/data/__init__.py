"""Datasets for GAN trials, all as one `GanDataset` shape; they import neither ray nor mlflow.

    from pipeline.core.data import load_dataset
    data = load_dataset(dataset_config("ring8"))
"""

from pipeline.core.data.base import BatchSampler, DatasetError, GanDataset
from pipeline.core.data.registry import load_dataset

__all__ = ["BatchSampler", "DatasetError", "GanDataset", "load_dataset"]
