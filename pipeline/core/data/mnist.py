"""MNIST and Fashion-MNIST from their IDX files (plain or .gz), as published or laid out by torchvision:
from the user's folder, or downloaded by name into the data cache.

    mnist(path="data/mnist", url=None, split="train")      # 60,000 digits; split="test": 10,000
    fashion_mnist(path=None, url=None, split="train")       # fetched into $GAN_SWEEP_DATA/fashion_mnist

The train split carries the test split, when the folder has it, as `unseen`: the digits the feature
classifier leaves for its accuracy and the evaluation's real-data floor.
"""

from __future__ import annotations

import gzip
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from pipeline.core.data.base import DatasetError, GanDataset
from pipeline.core.data.published import Published, idx_files, published_folder
from pipeline.spec.feature_spaces import CLASSIFIER

# LeCun's page is MNIST's canonical home but refuses plain downloads at times; torchvision's and
# TensorFlow's mirrors serve the same four files.
MNIST_HOSTS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/",
               "http://yann.lecun.com/exdb/mnist/")
MNIST = Published("mnist", idx_files(MNIST_HOSTS, {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}), MNIST_HOSTS)

FASHION_HOSTS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                 "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/")
FASHION_MNIST = Published("fashion_mnist", idx_files(FASHION_HOSTS, {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}), FASHION_HOSTS)


STEMS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
UBYTE = 0x08  # the IDX type code of unsigned bytes, the only one MNIST uses


def find_idx(folder: Path, stem: str) -> Path:
    """`stem` or `stem.gz` in the folder itself or torchvision's MNIST/raw below it."""
    candidates = [where / name for where in (folder, folder / "MNIST" / "raw") for name in (stem, stem + ".gz")]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise DatasetError(f"{folder}: no {stem}[.gz] here or in MNIST/raw")


def read_idx(path: Path) -> np.ndarray:
    """An IDX file as a uint8 array of its declared shape."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as file:
            raw = file.read()
    except (OSError, EOFError) as err:
        raise DatasetError(f"{path}: cannot read ({err})") from err
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != UBYTE:
        raise DatasetError(f"{path}: not an IDX file of unsigned bytes (magic {raw[:4].hex()})")
    dims = raw[3]
    header = 4 + 4 * dims
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    if len(raw) != header + int(np.prod(shape)):
        raise DatasetError(f"{path}: header says shape {shape}, but the file holds {len(raw) - header} bytes of data")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def idx_folder(published: Published, path: str | None, url: str | None) -> Path:
    """The user's folder (`path`), else the cache's, downloading the published files there first."""
    if path is None:
        return published_folder(published, url)
    folder = Path(path)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: no such folder (dataset.path of {published.name})")
    return folder


def mnist(path: str | None, url: str | None = None, split: str = "train") -> GanDataset:
    return idx_dataset("mnist", idx_folder(MNIST, path, url), split)


def fashion_mnist(path: str | None, url: str | None = None, split: str = "train") -> GanDataset:
    return idx_dataset("fashion_mnist", idx_folder(FASHION_MNIST, path, url), split)


def idx_dataset(name: str, folder: Path, split: str) -> GanDataset:
    """The split, with the test split as `unseen` beside the train split when the folder has it."""
    images = read_split(name, folder, split)
    if split == "train" and has_split(folder, "test"):
        return replace(images, unseen=read_split(name, folder, "test"))
    return images


def has_split(folder: Path, split: str) -> bool:
    try:
        for stem in STEMS[split]:
            find_idx(folder, stem)
    except DatasetError:
        return False
    return True


def read_split(name: str, folder: Path, split: str) -> GanDataset:
    image_stem, label_stem = STEMS[split]
    images, labels = read_idx(find_idx(folder, image_stem)), read_idx(find_idx(folder, label_stem))
    if images.ndim != 3 or images.shape[1:] != (28, 28) or labels.shape != (images.shape[0],):
        raise DatasetError(f"{folder}: expected N x 28 x 28 images and N labels, got {images.shape} and {labels.shape}")
    points = torch.from_numpy(images.astype(np.float32)).unsqueeze(1) / 127.5 - 1.0
    return GanDataset(name, points, torch.from_numpy(labels.astype(np.int64)), num_modes=10, feature_space=CLASSIFIER)
