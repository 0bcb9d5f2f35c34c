"""Every dataset from small fixtures, and a clear error naming the path for bad input."""

import gzip

import pytest
import torch

from pipeline.core.data import DatasetError, load_dataset
from pipeline.core.metrics.evaluator import needs_classifier
from pipeline.core.metrics.split import digit_split
from pipeline.spec.datasets import dataset_config

from .fixtures import write_celeba_zip, write_cifar10_tarball, write_csv, write_image_folder, write_mnist_idx


@pytest.mark.parametrize(("gz", "torchvision_layout"), [(True, False), (False, False), (True, True)])
def test_mnist_from_idx_files(tmp_path, gz, torchvision_layout):
    write_mnist_idx(tmp_path, count=300, gz=gz, torchvision_layout=torchvision_layout)
    data = load_dataset(dataset_config("mnist", path=str(tmp_path)))
    assert data.sample_shape == (1, 28, 28) and len(data) == 300
    assert data.points.min() >= -1 and data.points.max() <= 1
    assert set(data.labels.tolist()) == set(range(10))
    test = load_dataset(dataset_config("mnist", path=str(tmp_path), split="test"))
    assert len(test) == 300 and test.unseen is None


def test_full_mnist_keeps_its_test_split_for_the_floor(tmp_path):
    """The train split carries the test split: the classifier trains on all of train, and its accuracy
    and the floor come from test; without test files both are held back from train."""
    write_mnist_idx(tmp_path, count=300)
    data = load_dataset(dataset_config("mnist", path=str(tmp_path)))
    assert len(data.unseen) == 300
    split = digit_split(data)
    assert (len(split.reference), len(split.accuracy), len(split.floor)) == (300, 30, 270)
    assert split.origin == "from mnist's test split"
    for stem in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (tmp_path / stem).unlink()
    alone = load_dataset(dataset_config("mnist", path=str(tmp_path)))
    assert alone.unseen is None
    assert [len(p) for p in (digit_split(alone).reference, digit_split(alone).floor)] == [150, 120]


def test_mnist_errors_name_the_path(tmp_path):
    with pytest.raises(DatasetError, match=f"{tmp_path}: no train-images-idx3-ubyte"):
        load_dataset(dataset_config("mnist", path=str(tmp_path)))
    with pytest.raises(DatasetError, match="no such folder"):
        load_dataset(dataset_config("mnist", path=str(tmp_path / "missing")))
    write_mnist_idx(tmp_path, count=50)
    broken = tmp_path / "train-images-idx3-ubyte.gz"
    broken.write_bytes(gzip.compress(gzip.decompress(broken.read_bytes())[:-100]))
    with pytest.raises(DatasetError, match=f"{broken}: header says shape"):
        load_dataset(dataset_config("mnist", path=str(tmp_path)))
    broken.write_bytes(b"not gzip at all")
    with pytest.raises(DatasetError, match=str(broken)):
        load_dataset(dataset_config("mnist", path=str(tmp_path)))


@pytest.mark.parametrize("source", ["mnist5k", "mnist"])
def test_stacked_mnist_has_1000_modes(tmp_path, source):
    fields = {"path": str(write_mnist_idx(tmp_path, count=300))} if source == "mnist" else {}
    data = load_dataset(dataset_config("stacked_mnist", source=source, points=2000, **fields))
    assert data.sample_shape == (3, 28, 28) and data.num_modes == 1000
    assert data.labels.max() < 1000 and len(set(data.labels.tolist())) > 800
    first = data.labels[0].item()
    for channel, digit in enumerate((first // 100, first // 10 % 10, first % 10)):
        matches = (data.source.points[:, 0] == data.points[0, channel]).all(dim=(1, 2))
        assert digit in data.source.labels[matches].tolist()


@pytest.mark.parametrize(("size", "channels", "limit"), [(64, 3, None), (32, 1, 4), (28, 3, 2)])
def test_image_folder(tmp_path, size, channels, limit):
    write_image_folder(tmp_path)
    data = load_dataset(dataset_config("image_folder", path=str(tmp_path), image_size=size, channels=channels,
                                       limit=limit))
    assert data.sample_shape == (channels, size, size)
    assert len(data) == (limit or 6)
    assert data.points.min() >= -1 and data.points.max() <= 1 and data.num_modes == 0


def test_image_folder_errors_name_the_path(tmp_path):
    with pytest.raises(DatasetError, match=f"{tmp_path}: found 0 images"):
        load_dataset(dataset_config("image_folder", path=str(tmp_path)))
    write_image_folder(tmp_path)
    (tmp_path / "broken.png").write_bytes(b"no png")
    with pytest.raises(DatasetError, match="broken.png: not a readable image"):
        load_dataset(dataset_config("image_folder", path=str(tmp_path)))


def test_tabular_is_standardized_and_maps_back(tmp_path):
    path = write_csv(tmp_path / "people.csv")
    data = load_dataset(dataset_config("tabular", path=str(path)))
    assert data.columns == ("age", "income") and data.sample_shape == (2,)
    assert torch.allclose(data.points.mean(dim=0), torch.zeros(2), atol=1e-5)
    assert torch.allclose(data.points.std(dim=0), torch.ones(2), atol=1e-5)
    original = data.to_original_units(data.points[:3])
    first_row = path.read_text().splitlines()[1].split(",")
    assert original[0].tolist() == pytest.approx([float(v) for v in first_row], rel=1e-5)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [("a,b\n1,x\n2,y\n", "column 'b' is not numeric"), ("a,b\n1,2\n3,\n", "column 'b' has missing values"),
     ("a,b\n1,2\n1,3\n", "constant column(s) ['a']"), ("", "not a readable CSV")],
)
def test_tabular_errors_name_the_file(tmp_path, text, fragment):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DatasetError) as info:
        load_dataset(dataset_config("tabular", path=str(path)))
    assert str(path) in str(info.value) and fragment in str(info.value)


def test_relative_paths_become_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert dataset_config("mnist", path="data").path == str(tmp_path / "data")


def test_each_dataset_says_its_feature_space_as_its_config_does(tmp_path):
    """The capability lives on the dataset (config class and loaded data), not in lists of names."""
    from pipeline.spec.datasets import DATASET_CONFIGS

    fields = {
        "mnist": {"path": str(write_mnist_idx(tmp_path / "mnist", count=100))},
        "fashion_mnist": {"path": str(write_mnist_idx(tmp_path / "fashion", count=100))},
        "cifar10": {"path": str(write_cifar10_tarball(tmp_path / "cifar10", per_batch=4).parent)},
        "celeba": {"path": str(write_celeba_zip(tmp_path / "celeba", count=3))},
        "stacked_mnist": {"points": 200},
        "image_folder": {"path": str(write_image_folder(tmp_path / "faces")), "image_size": 28},
        "tabular": {"path": str(write_csv(tmp_path / "people.csv"))},
    }
    for config_class in DATASET_CONFIGS:
        name = config_class.model_fields["name"].annotation.__args__[0]
        config = dataset_config(name, **fields.get(name, {}))
        data = load_dataset(config)
        assert data.feature_space == config.feature_space, name
        assert data.is_image == config.images, name
        assert needs_classifier(data) == (config.feature_space in ("classifier", "stacked_digits")), name
