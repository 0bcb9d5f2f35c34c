"""Small data files that the tests write: IDX files cut from mnist5k, an image folder, a CSV."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
from PIL import Image

from pipeline.core.data import load_dataset
from pipeline.spec.config import dataset_config


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_mnist_idx(folder: Path, count: int = 600, gz: bool = True, torchvision_layout: bool = False) -> Path:
    """`count` mnist5k digits (every class) as train and t10k IDX files, like the real distribution."""
    digits = load_dataset(dataset_config("mnist5k"))
    pick = np.linspace(0, len(digits) - 1, count).astype(int)  # spread over the class-sorted set
    images = ((digits.points[pick, 0].numpy() + 1) * 127.5).round()
    labels = digits.labels[pick].numpy()
    where = folder / "MNIST" / "raw" if torchvision_layout else folder
    where.mkdir(parents=True, exist_ok=True)
    for prefix in ("train", "t10k"):
        for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
            name = f"{prefix}-{kind}-ubyte"
            data = idx_bytes(array)
            if gz:
                (where / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (where / name).write_bytes(data)
    return folder


def write_image_folder(folder: Path, count: int = 6) -> Path:
    """Colour images of mixed sizes and formats, some in a subfolder."""
    rng = np.random.default_rng(0)
    (folder / "nested").mkdir(parents=True, exist_ok=True)
    for i in range(count):
        size = (40 + 10 * i, 30 + 5 * i)
        pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        where = folder / "nested" if i % 2 else folder
        Image.fromarray(pixels).save(where / f"face{i}.{'png' if i % 3 else 'jpg'}")
    (folder / "notes.txt").write_text("not an image")
    return folder


def write_csv(path: Path, rows: int = 400) -> Path:
    rng = np.random.default_rng(0)
    age = rng.normal(40, 10, rows)
    income = 1000 + 50 * age + rng.normal(0, 100, rows)
    path.write_text("age,income\n" + "\n".join(f"{a:.3f},{b:.3f}" for a, b in zip(age, income, strict=True)))
    return path
