"""The published datasets (and the FID Inception weights) fetched by name: each one's files, their
checksums as published (torchvision's dataset classes list the same MD5s), and where to get them,
canonical host first, then mirrors.

    folder = published_folder(MNIST, url=None)   # the cache's mnist/, downloading what is missing

A dataset's `path` (the user's own files) is read where it is and nothing is fetched (the loaders
decide); a `url` (a mirror's folder, or for a single-file dataset the file itself) is tried first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.core.data.download import RemoteFile, data_home, fetch


@dataclass(frozen=True)
class Published:
    name: str  # its folder in the data cache
    files: tuple[RemoteFile, ...]
    hosts: tuple[str, ...]  # folders the files are served from (canonical first); empty: no plain HTTP host


def idx_files(hosts: tuple[str, ...], md5s: dict[str, str]) -> tuple[RemoteFile, ...]:
    return tuple(RemoteFile(name, f"md5:{md5}", tuple(host + name for host in hosts)) for name, md5 in md5s.items())


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

CIFAR10_HOSTS = ("https://www.cs.toronto.edu/~kriz/",)
CIFAR10 = Published("cifar10", idx_files(CIFAR10_HOSTS, {"cifar-10-python.tar.gz": "c58f30108f718f92721af3b95e74349a"}),
                    CIFAR10_HOSTS)

# The official zip is on a Google Drive folder (no plain HTTP host): the user's `url` or `path` only.
CELEBA = Published("celeba", (RemoteFile("img_align_celeba.zip", "md5:00d2c5bc6d35e252742224ab0c1e8fcb", ()),), ())

# pytorch-fid's FID Inception weights: the file behind the FID numbers papers print. The 8 hex digits in
# its name start its SHA-256.
FID_WEIGHTS_HOSTS = ("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/",)
FID_INCEPTION = Published("weights", (RemoteFile(
    "pt_inception-2015-12-05-6726825d.pth", "sha256:6726825d",
    tuple(host + "pt_inception-2015-12-05-6726825d.pth" for host in FID_WEIGHTS_HOSTS)),), FID_WEIGHTS_HOSTS)


def with_url(remote: RemoteFile, url: str, single_file: bool) -> RemoteFile:
    """The file with `url` tried first: the file's own address, or a folder that holds it by its name."""
    first = url if single_file else url.rstrip("/") + "/" + remote.name
    return RemoteFile(remote.name, remote.checksum, (first, *remote.urls))


def published_folder(dataset: Published, url: str | None) -> Path:
    """The cache's folder of `dataset` with every file in it, each downloaded (and checked) if missing.
    `dataset` may be the FID Inception weights, kept in the same cache."""
    folder = data_home() / dataset.name
    single_file = len(dataset.files) == 1
    for remote in dataset.files:
        fetch(remote if url is None else with_url(remote, url, single_file), folder)
    return folder
