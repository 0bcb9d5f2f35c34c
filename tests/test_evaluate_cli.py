"""python -m pipeline.evaluate as a user calls it, on .npy files and a real trial checkpoint."""

import json

import numpy as np
import pytest
import torch

from pipeline.core.data import load_dataset
from pipeline.core.data.mixtures import RING8_STD, mixture, ring8_centres
from pipeline.core.evaluate import main
from pipeline.core.train import train
from pipeline.spec import metric_names as names
from pipeline.spec.datasets import dataset_config

from .conftest import tiny_spec
from .fixtures import write_cifar10_tarball


def evaluate_json(capsys, *argv):
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_true_ring_samples(tmp_path, capsys):
    path = tmp_path / "ring.npy"
    np.save(path, mixture("ring8", ring8_centres(), RING8_STD, points=3000, seed=5).points.numpy())
    result = evaluate_json(capsys, "--dataset", "ring8", "--samples", str(path))
    assert result["samples"] == 2000 and result["dataset"] == "ring8"
    assert result[names.MODES] == 8 and result[names.FID] < 5e-3  # the floor at n=2000 is about 1e-3


def test_shifted_ring_gives_fid_near_shift_squared(tmp_path, capsys):
    path = tmp_path / "shifted.npy"
    points = mixture("ring8", ring8_centres(), RING8_STD, points=2500, seed=5).points + torch.tensor([1.0, 0.0])
    np.save(path, points.numpy())
    result = evaluate_json(capsys, "--dataset", "ring8", "--samples", str(path), "--n", "2500")
    assert result[names.FID] == pytest.approx(1.0, abs=0.1)


def test_one_digit_class_as_uint8_images_covers_one_mode(tmp_path, capsys):
    data = load_dataset(dataset_config("mnist5k"))
    sevens = ((data.points[data.labels == 7][:, 0] + 1) * 127.5).round().to(torch.uint8).numpy()  # N x 28 x 28
    path = tmp_path / "sevens.npy"
    np.save(path, sevens)
    result = evaluate_json(capsys, "--dataset", "mnist5k", "--samples", str(path))
    assert result["samples"] == 500 and result[names.MODES] == 1


def test_a_larger_file_is_scored_on_a_random_n_of_it(tmp_path, capsys):
    data = load_dataset(dataset_config("mnist5k"))
    by_class = data.points[data.labels.argsort(stable=True)][:, 0]  # its first 500 digits are all zeros
    path = tmp_path / "sorted.npy"
    np.save(path, ((by_class + 1) / 2).numpy())
    result = evaluate_json(capsys, "--dataset", "mnist5k", "--samples", str(path), "--n", "500")
    assert result["samples"] == 500 and result[names.MODES] == 10
    assert evaluate_json(capsys, "--dataset", "mnist5k", "--samples", str(path), "--n", "500") == result  # seeded


def test_floor_beside_real_digits_the_classifier_never_saw(tmp_path, capsys):
    """What a user does to see whether a floor is reachable: real unseen digits, scored with --floor."""
    from pipeline.core.metrics.split import digit_split

    unseen = digit_split(load_dataset(dataset_config("mnist5k"))).accuracy.points  # 500 digits
    path = tmp_path / "unseen.npy"
    np.save(path, ((unseen[:, 0] + 1) / 2).numpy())
    result = evaluate_json(capsys, "--dataset", "mnist5k", "--samples", str(path), "--floor")
    assert result["samples"] == 500
    assert result["floor.fid"] / 1.5 <= result[names.FID] <= 1.5 * result["floor.fid"]
    assert result["floor_sd.fid"] > 0 and result["floor.source"] == "500 digits held back from mnist5k"
    assert result["floor.spread"].startswith("4 disjoint sets of 500")


def test_checkpoint_of_a_trained_trial(tmp_path, capsys):
    class Keep:
        def report(self, step, metrics, images, checkpoint):
            self.checkpoint, self.metrics = checkpoint, metrics

    kept = Keep()
    train(tiny_spec("ring8", "trial.eval.samples=2000").trial, kept)
    path = tmp_path / "gan.pt"
    torch.save(kept.checkpoint, path)
    result = evaluate_json(capsys, "--checkpoint", str(path))
    assert result["dataset"] == "ring8" and result["samples"] == 2000
    # the same generator and the same fixed evaluation noise as in training: the same numbers
    assert result[names.FID] == pytest.approx(kept.metrics[names.FID], rel=1e-9)
    assert result[names.MODES] == kept.metrics[names.MODES]


@pytest.mark.parametrize(
    ("array", "fragment"),
    [
        (np.zeros((100, 3)), "must be N x 2"),
    ],
)
def test_bad_samples_exit_2(tmp_path, capsys, array, fragment):
    path = tmp_path / "bad.npy"
    np.save(path, array)
    assert main(["--dataset", "ring8", "--samples", str(path)]) == 2
    assert fragment in capsys.readouterr().err


def test_bad_images_and_missing_files_exit_2(tmp_path, capsys):
    path = tmp_path / "bright.npy"
    np.save(path, np.full((10, 28, 28), 3.0, dtype=np.float32))
    assert main(["--dataset", "mnist5k", "--samples", str(path)]) == 2
    assert "[0, 1]" in capsys.readouterr().err
    assert main(["--dataset", "mnist5k", "--samples", str(tmp_path / "none.npy")]) == 2
    assert "no such samples file" in capsys.readouterr().err
    assert main(["--checkpoint", str(path)]) == 2
    assert "not a pipeline checkpoint" in capsys.readouterr().err


def test_datasets_with_a_path(tmp_path, capsys):
    from .fixtures import write_csv, write_mnist_idx

    folder = write_mnist_idx(tmp_path / "mnist", count=600)
    digits = load_dataset(dataset_config("mnist", path=str(folder)))
    np.save(tmp_path / "digits.npy", ((digits.points[::2] + 1) / 2).numpy())  # every class, floats in [0, 1]
    result = evaluate_json(capsys, "--dataset", "mnist", "--dataset-path", str(folder),
                           "--samples", str(tmp_path / "digits.npy"))
    assert result["dataset"] == "mnist" and result["samples"] == 300 and result[names.MODES] >= 9

    table = write_csv(tmp_path / "people.csv")
    np.save(tmp_path / "rows.npy", np.random.default_rng(0).normal(size=(150, 2)))
    result = evaluate_json(capsys, "--dataset", "tabular", "--dataset-path", str(table),
                           "--samples", str(tmp_path / "rows.npy"))
    assert result["samples"] == 150 and names.MODES not in result

    assert main(["--dataset", "tabular", "--samples", str(tmp_path / "rows.npy")]) == 2  # a table has no name
    assert "--dataset-path" in capsys.readouterr().err


@pytest.mark.slow  # Inception passes over a few CIFAR-10-format images
def test_cifar10_samples_on_inception_features_as_the_literature_scores_them(tmp_path, capsys, weights_file):
    """`python -m pipeline.evaluate --dataset cifar10 --features inception --weights PATH --samples x.npy`
    (the weights a file in pytorch-fid's format; the tarball in CIFAR-10's own format)."""
    tarball = write_cifar10_tarball(tmp_path / "cifar", per_batch=12)  # 60 training images
    samples = np.random.default_rng(0).integers(0, 256, (20, 3, 32, 32), dtype=np.uint8)
    np.save(tmp_path / "x.npy", samples)
    assert main(["--dataset", "cifar10", "--dataset-path", str(tarball.parent), "--features", "inception",
                 "--weights", str(weights_file), "--samples", str(tmp_path / "x.npy"), "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["samples"] == 20 and scores["fid"] > 0 and "inception_score" in scores
    assert scores["protocol"].startswith("FID Inception pool features") and "modes" not in scores
    assert main(["--dataset", "ring8", "--features", "inception", "--samples", str(tmp_path / "x.npy")]) == 2
    assert "--features inception scores images, and ring8 is not image data" in capsys.readouterr().err
