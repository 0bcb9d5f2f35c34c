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
