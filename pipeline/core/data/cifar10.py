"""CIFAR-10 (Krizhevsky 2009): 50,000 training and 10,000 test images of 32 x 32 in ten classes, from the
python version's tarball of pickled batches, read without unpacking it.

    cifar10(path=None, url=None, split="train", limit=None)   # fetched into $GAN_SWEEP_DATA/cifar10

`path` may hold the tarball or the cifar-10-batches-py folder it unpacks to.
"""

from __future__ import annotations

import pickle
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import numpy as np
import torch

from pipeline.core.data.base import DatasetError, GanDataset
from pipeline.core.data.published import Published, idx_files, published_folder
from pipeline.spec.feature_spaces import INCEPTION

CIFAR10_HOSTS = ("https://www.cs.toronto.edu/~kriz/",)
CIFAR10 = Published("cifar10", idx_files(CIFAR10_HOSTS, {"cifar-10-python.tar.gz": "c58f30108f718f92721af3b95e74349a"}),
                    CIFAR10_HOSTS)


ARCHIVE = "cifar-10-python.tar.gz"
FOLDER = "cifar-10-batches-py"
BATCHES = {"train": tuple(f"data_batch_{n}" for n in range(1, 6)), "test": ("test_batch",)}


def batch_files(source: Path, names: tuple[str, ...]) -> Iterator[IO[bytes]]:
    """Each named batch as an open file, from the tarball or the unpacked folder."""
    if source.is_dir():
        for name in names:
            with open(source / name, "rb") as file:
                yield file
        return
    with tarfile.open(source, "r:gz") as archive:
        for name in names:
            member = archive.extractfile(f"{FOLDER}/{name}")
            if member is None:
                raise DatasetError(f"{source}: {FOLDER}/{name} is not a file in the archive")
            yield member


def read_split(source: Path, split: str, limit: int | None) -> GanDataset:
    images, labels = [], []
    try:
        for file in batch_files(source, BATCHES[split]):
            batch = pickle.load(file, encoding="bytes")  # the published format; its MD5 was checked on download
            images.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            labels.append(np.asarray(batch[b"labels"], dtype=np.int64))
            if limit is not None and sum(map(len, labels)) >= limit:
                break
    except (OSError, KeyError, EOFError, pickle.UnpicklingError, tarfile.TarError) as err:
        raise DatasetError(f"{source}: not CIFAR-10's python batches ({type(err).__name__}: {err})") from err
    pixels, classes = np.concatenate(images)[:limit], np.concatenate(labels)[:limit]
    points = torch.from_numpy(pixels).float() / 127.5 - 1.0
    # its ten classes are in the labels, but no CIFAR-10 classifier scores samples here: no modes are counted
    return GanDataset("cifar10", points, torch.from_numpy(classes), num_modes=0, feature_space=INCEPTION)


def cifar10_source(path: str | None, url: str | None) -> Path:
    """The tarball (in the cache, fetched if missing, or in `path`) or the unpacked folder in `path`."""
    if path is None:
        return published_folder(CIFAR10, url) / ARCHIVE
    folder = Path(path)
    for candidate in (folder / FOLDER, folder if folder.name == FOLDER else None, folder / ARCHIVE):
        if candidate is not None and candidate.exists():
            return candidate
    raise DatasetError(f"{folder}: holds neither {ARCHIVE} nor {FOLDER}/ (dataset.path of cifar10)")


def cifar10(path: str | None, url: str | None = None, split: str = "train", limit: int | None = None) -> GanDataset:
    """The split (train: 50,000 images; test: 10,000), or its first `limit` images."""
    return read_split(cifar10_source(path, url), split, limit)
