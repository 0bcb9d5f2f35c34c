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
