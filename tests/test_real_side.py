"""The real side of every metric is computed once and shared: a sweep's driver computes it, pickles it
into Ray's object store with the trials' set-up, and each trial's evaluator scores against it without
passing the real reference through the feature network again."""

from __future__ import annotations

import pickle

import pytest
import torch

from pipeline.core.data import load_dataset
from pipeline.core.metrics.evaluator import Evaluator
from pipeline.core.train import build_evaluator, train

from .conftest import tiny_spec


class Keep:
    def __init__(self):
        self.metrics = []

    def report(self, step, metrics, images, checkpoint):
        self.metrics.append(metrics)


@pytest.mark.parametrize("name", ["ring8", "dropout"])  # coordinates; the digit classifier's features
def test_a_shared_real_side_scores_as_one_computed_in_place(name, monkeypatch):
    spec = tiny_spec(name)
    dataset = load_dataset(spec.trial.dataset)
    driver = build_evaluator(spec.trial.eval, dataset, None)
    shared = pickle.loads(pickle.dumps(driver.real))  # as the object store hands it over
    monkeypatch.setattr(Evaluator, "real_side", lambda self: pytest.fail("the real reference was scored again"))
    trial = build_evaluator(spec.trial.eval, dataset, None, shared)
    samples = dataset.points[torch.randperm(len(dataset), generator=torch.Generator().manual_seed(1))[:200]]
    assert trial.evaluate(samples) == driver.evaluate(samples)


def test_a_trial_trains_to_the_same_metrics_with_the_drivers_data_and_real_side():
    spec = tiny_spec("ring8")
    dataset = load_dataset(spec.trial.dataset)
    alone, shared = Keep(), Keep()
    train(spec.trial, alone)
    train(spec.trial, shared, dataset=dataset, real=build_evaluator(spec.trial.eval, dataset, None).real)
    assert alone.metrics == shared.metrics


@pytest.mark.slow  # Inception passes over a few digits
def test_trials_score_in_the_drivers_inception_weights_without_the_file(weights_file, tmp_path):
    """The driver reads the weights once and ships them (TrialSetup.inception): a trial builds the network
    from them, so a node without the file (here: a path that does not exist) scores the same."""
    from pipeline.core.metrics.inception import fid_inception_from_state
    from pipeline.spec.config import EvalConfig
    from pipeline.spec.datasets import dataset_config
    from pipeline.sweep.driver import shipped_weights

    from .fixtures import write_mnist_idx

    digits = load_dataset(dataset_config("mnist", path=str(write_mnist_idx(tmp_path / "mnist", count=60))))
    driver = build_evaluator(EvalConfig(samples=20, features="inception", inception_weights=str(weights_file)),
                             digits, None)
    shipped = pickle.loads(pickle.dumps(shipped_weights(driver)))  # as the object store hands it over
    elsewhere = EvalConfig(samples=20, features="inception", inception_weights=str(tmp_path / "absent.pth"))
    trial = build_evaluator(elsewhere, digits, None, driver.real, fid_inception_from_state(shipped))
    assert trial.evaluate(digits.points[:20]) == driver.evaluate(digits.points[:20])
    with pytest.raises(ValueError, match="no such file"):  # without the shipped weights it would need the file
        build_evaluator(elsewhere, digits, None, driver.real)


def test_the_real_side_is_kept_across_sweeps_by_everything_that_changes_it(monkeypatch, tmp_path):
    """A second evaluator of the same data, feature network and eval.samples (the next sweep) reads the
    real side from the cache; other samples, or other data, compute their own."""
    from pipeline.core.metrics.real_side import real_side_key, real_side_path
    from pipeline.spec.datasets import dataset_config

    monkeypatch.setenv("PIPELINE_CACHE_DIR", str(tmp_path))
    ring = load_dataset(dataset_config("ring8"))
    first = Evaluator(ring, samples=300)
    key = real_side_key(first.parts.reference, ring, None, 300)
    assert real_side_path(key).exists() and list(real_side_path(key).parent.iterdir()) == [real_side_path(key)]
    with monkeypatch.context() as patched:
        patched.setattr(Evaluator, "real_side", lambda self: pytest.fail("computed again, not read from the cache"))
        again = Evaluator(ring, samples=300)
    samples = first.parts.floor_pool[:300]
    assert again.evaluate(samples) == first.evaluate(samples)
    assert real_side_key(first.parts.reference, ring, None, 400) != key  # KID's and PRDC's reference size
    grid = load_dataset(dataset_config("grid25"))
    assert real_side_key(Evaluator(grid, samples=300).parts.reference, grid, None, 300) != key
    assert len(list(real_side_path(key).parent.glob("*.pt"))) == 2  # ring8's and grid25's, nothing partial


def test_an_unreadable_cached_real_side_is_computed_again_and_replaced(monkeypatch, tmp_path, capsys):
    from pipeline.core.metrics.real_side import read_real_side, real_side_key, real_side_path
    from pipeline.spec.datasets import dataset_config

    monkeypatch.setenv("PIPELINE_CACHE_DIR", str(tmp_path))
    ring = load_dataset(dataset_config("ring8"))
    first = Evaluator(ring, samples=300)
    path = real_side_path(real_side_key(first.parts.reference, ring, None, 300))
    path.write_bytes(path.read_bytes()[:1000])  # a file cut short (a full disk, a copy interrupted)
    again = Evaluator(ring, samples=300)
    assert "not a readable real side" in capsys.readouterr().out
    samples = first.parts.floor_pool[:300]
    assert again.evaluate(samples) == first.evaluate(samples)
    assert (read_real_side(path).mu == first.real.mu).all()  # replaced by a whole one
