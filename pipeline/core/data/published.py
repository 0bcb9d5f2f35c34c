"""Files fetched by name (a published dataset, the FID Inception weights): what each one is (`Published`:
its files, their checksums as published, its hosts, canonical first, then mirrors) and how its folder
in the data cache is filled. Each dataset's loader module holds its own `Published` entry beside the
code that reads the files (data/mnist.py, cifar10.py, celeba.py; the weights: metrics/inception.py).

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
