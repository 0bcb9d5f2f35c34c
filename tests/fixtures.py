"""Small data files that the tests write in the real formats: IDX files cut from mnist5k, an image folder, a
CSV, CIFAR-10's tarball of pickled batches, CelebA's zip of JPEGs."""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import tarfile
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from pipeline.core.data import load_dataset
from pipeline.spec.datasets import dataset_config


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


def write_cifar10_tarball(folder: Path, per_batch: int = 12) -> Path:
    """CIFAR-10's python version in its published layout: cifar-10-python.tar.gz holding
    cifar-10-batches-py/ with five training batches, the test batch and batches.meta, each a pickled dict
    of bytes keys (b"data": N x 3072 uint8, channel-major; b"labels": a list of ints)."""
    rng = np.random.default_rng(1)
    folder.mkdir(parents=True, exist_ok=True)
    tarball = folder / "cifar-10-python.tar.gz"
    with tarfile.open(tarball, "w:gz") as archive:
        batches = [f"data_batch_{n}" for n in range(1, 6)] + ["test_batch"]
        for number, name in enumerate(batches):
            batch = {b"batch_label": name.encode(), b"labels": [(number + i) % 10 for i in range(per_batch)],
                     b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
                     b"filenames": [f"{name}_{i}.png".encode() for i in range(per_batch)]}
            add_bytes(archive, f"cifar-10-batches-py/{name}", pickle.dumps(batch, protocol=2))
        meta = {b"label_names": [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse",
                                 b"ship", b"truck"], b"num_cases_per_batch": per_batch, b"num_vis": 3072}
        add_bytes(archive, "cifar-10-batches-py/batches.meta", pickle.dumps(meta, protocol=2))
    return tarball


def add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def write_celeba_zip(folder: Path, count: int = 5) -> Path:
    """img_align_celeba.zip as published: img_align_celeba/000001.jpg ..., each 178 x 218 RGB."""
    rng = np.random.default_rng(2)
    folder.mkdir(parents=True, exist_ok=True)
    archive = folder / "img_align_celeba.zip"
    with zipfile.ZipFile(archive, "w") as faces:
        for number in range(1, count + 1):
            picture = io.BytesIO()
            Image.fromarray(rng.integers(0, 256, (218, 178, 3), dtype=np.uint8)).save(picture, format="JPEG")
            faces.writestr(f"img_align_celeba/{number:06d}.jpg", picture.getvalue())
    return archive


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()
