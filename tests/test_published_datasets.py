"""Datasets by name: downloaded from a host (here a loopback server with files in the published formats),
checked against their MD5 before the cache trusts them, the next mirror tried when a host fails, and read
from the cache afterwards; or read from the user's own files. No test reaches the internet: the catalog's
hosts and checksums are swapped for the loopback server's, the download and reading code is the real one."""

from __future__ import annotations

import gzip
import shutil

import pytest
import torch

from pipeline.core.data import DatasetError, load_dataset
from pipeline.core.data import celeba as celeba_module
from pipeline.core.data import cifar10 as cifar10_module
from pipeline.core.data import mnist as mnist_module
from pipeline.core.data.download import DATA_HOME_VARIABLE, DownloadError, RemoteFile
from pipeline.core.data.published import Published
from pipeline.spec.config import ConfigError
from pipeline.spec.datasets import dataset_config
from pipeline.spec.loading import load_spec

from .conftest import SEARCH_SPACES, free_port
from .fixtures import md5_of, write_celeba_zip, write_cifar10_tarball, write_mnist_idx
from .servers import FileServer

IDX_NAMES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
             "t10k-labels-idx1-ubyte.gz")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv(DATA_HOME_VARIABLE, str(folder))
    return folder


def hosted(folder, names, hosts) -> tuple[RemoteFile, ...]:
    """The files in `folder`, published at each of `hosts` with their real MD5s."""
    return tuple(RemoteFile(name, f"md5:{md5_of(folder / name)}", tuple(host + "/" + name for host in hosts))
                 for name in names)


@pytest.fixture
def mnist_host(tmp_path, monkeypatch):
    """MNIST's four files (cut from mnist5k) on a loopback host; the catalog's first host refuses connections."""
    folder = write_mnist_idx(tmp_path / "host", count=300)
    with FileServer(folder) as server:
        dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there: a host that is down
        monkeypatch.setattr(mnist_module, "MNIST", Published("mnist", hosted(folder, IDX_NAMES, (dead, server.url)),
                                                             (dead, server.url)))
        yield server


def test_mnist_by_name_is_downloaded_once_checked_and_read_from_the_cache(cache, mnist_host):
    digits = load_dataset(dataset_config("mnist"))
    assert digits.points.shape == (300, 1, 28, 28) and digits.unseen is not None and len(digits.unseen) == 300
    assert sorted(p.name for p in (cache / "mnist").iterdir()) == sorted(IDX_NAMES)  # no .part left behind
    assert all(mnist_host.requests[name] == 1 for name in IDX_NAMES)
    again = load_dataset(dataset_config("mnist"))  # the cache now: no request reaches the host
    assert torch.equal(again.points, digits.points) and sum(mnist_host.requests.values()) == 4


def test_a_corrupt_file_is_never_kept(cache, mnist_host):
    served = mnist_host.folder / IDX_NAMES[0]
    served.write_bytes(served.read_bytes()[:-10] + b"0123456789")  # the host now serves other bytes
    with pytest.raises(DownloadError) as error:
        load_dataset(dataset_config("mnist"))
    message = str(error.value)
    assert "checksum mismatch" in message and IDX_NAMES[0] in message
    assert str(cache / "mnist" / IDX_NAMES[0]) in message  # where to put it by hand
    assert f"{mnist_host.url}/{IDX_NAMES[0]}" in message and "Connection refused" in message  # each URL tried
    assert not (cache / "mnist" / IDX_NAMES[0]).exists() and not list((cache / "mnist").glob("*.part"))


def test_an_interrupted_download_leaves_nothing_the_next_run_trusts(cache, mnist_host):
    mnist_host.cut_short.add(IDX_NAMES[1])
    with pytest.raises(DownloadError, match="IncompleteRead|Connection"):
        load_dataset(dataset_config("mnist"))
    assert not (cache / "mnist" / IDX_NAMES[1]).exists() and not list((cache / "mnist").glob("*.part"))
    mnist_host.cut_short.clear()  # the link is back: the next run fetches it whole
    assert len(load_dataset(dataset_config("mnist"))) == 300


def test_a_url_of_the_users_mirror_is_tried_first(cache, tmp_path, monkeypatch):
    folder = write_mnist_idx(tmp_path / "fashion", count=100)
    with FileServer(folder) as mirror:
        broken = f"http://127.0.0.1:{free_port()}"
        monkeypatch.setattr(mnist_module, "FASHION_MNIST",
                            Published("fashion_mnist", hosted(folder, IDX_NAMES, (broken,)), (broken,)))
        clothes = load_dataset(dataset_config("fashion_mnist", url=mirror.url + "/"))
    assert clothes.name == "fashion_mnist" and clothes.points.shape == (100, 1, 28, 28)
    assert clothes.feature_space == "classifier"  # scored by a classifier trained on its own ten classes


def test_cifar10_by_name_from_its_tarball(cache, tmp_path, monkeypatch):
    tarball = write_cifar10_tarball(tmp_path / "host", per_batch=12)
    with FileServer(tarball.parent) as host:
        monkeypatch.setattr(cifar10_module, "CIFAR10", Published(
            "cifar10", hosted(tarball.parent, (tarball.name,), (host.url,)), (host.url,)))
        train = load_dataset(dataset_config("cifar10"))
        test = load_dataset(dataset_config("cifar10", split="test"))
        first = load_dataset(dataset_config("cifar10", limit=20))
    assert train.points.shape == (60, 3, 32, 32) and len(test) == 12 and len(first) == 20
    assert train.points.min() >= -1 and train.points.max() <= 1 and train.labels.tolist()[:3] == [0, 1, 2]
    assert train.feature_space == "inception" and not train.has_modes  # classes, but no classifier counts them
    assert host.requests[tarball.name] == 1  # the test split came from the cached tarball


def test_cifar10_from_the_users_tarball_or_its_unpacked_folder(tmp_path):
    tarball = write_cifar10_tarball(tmp_path / "mine", per_batch=4)
    packed = load_dataset(dataset_config("cifar10", path=str(tarball.parent)))
    shutil.unpack_archive(tarball, tmp_path / "unpacked")
    unpacked = load_dataset(dataset_config("cifar10", path=str(tmp_path / "unpacked")))
    assert torch.equal(packed.points, unpacked.points) and len(packed) == 20
    with pytest.raises(DatasetError, match="holds neither cifar-10-python.tar.gz"):
        load_dataset(dataset_config("cifar10", path=str(tmp_path)))


def test_celeba_from_its_zip_by_path_or_url_cropped_to_64_px(cache, tmp_path, monkeypatch):
    archive = write_celeba_zip(tmp_path / "host", count=5)
    from_path = load_dataset(dataset_config("celeba", path=str(archive)))
    assert from_path.points.shape == (5, 3, 64, 64) and from_path.feature_space == "inception"
    with FileServer(archive.parent) as host:
        monkeypatch.setattr(celeba_module, "CELEBA", Published(
            "celeba", (RemoteFile(archive.name, f"md5:{md5_of(archive)}", ()),), ()))
        from_url = load_dataset(dataset_config("celeba", url=f"{host.url}/{archive.name}", limit=3))
    assert torch.equal(from_url.points, from_path.points[:3])
    with pytest.raises(ValueError, match="celeba needs path"):
        dataset_config("celeba")


def test_without_network_the_error_says_where_to_put_the_file(cache, monkeypatch):
    down = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setattr(cifar10_module, "CIFAR10", Published(
        "cifar10", (RemoteFile("cifar-10-python.tar.gz", "md5:" + "0" * 32, (f"{down}/cifar-10-python.tar.gz",)),),
        (down,)))
    with pytest.raises(DownloadError) as error:
        load_dataset(dataset_config("cifar10"))
    assert f"put it at {cache / 'cifar10' / 'cifar-10-python.tar.gz'}" in str(error.value)


def test_a_study_file_names_the_dataset_alone_and_a_bad_key_names_file_and_key(tmp_path):
    spec = load_spec(SEARCH_SPACES / "ring8.yaml", ["trial.dataset={name: cifar10}", "trial.model.name=dcgan"])
    assert spec.trial.dataset.name == "cifar10" and spec.trial.dataset.path is None
    with pytest.raises(ConfigError, match=r"ring8.yaml: trial.dataset.colour"):
        load_spec(SEARCH_SPACES / "ring8.yaml", ["trial.dataset={name: cifar10, colour: 3}"])


def test_gzip_idx_files_from_the_cache_are_the_published_bytes(cache, mnist_host):
    load_dataset(dataset_config("mnist"))
    cached = cache / "mnist" / IDX_NAMES[0]
    assert gzip.decompress(cached.read_bytes()) == gzip.decompress((mnist_host.folder / IDX_NAMES[0]).read_bytes())
