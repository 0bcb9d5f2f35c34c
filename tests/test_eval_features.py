"""Digits scored both ways: by their own classifier (the default) or, with eval.features: inception, on FID
Inception features as the literature scores them; a random Inception network saved as pytorch-fid's file
stands in for the real weights, which cannot be fetched here."""

from __future__ import annotations

import pytest

from pipeline.core.data import load_dataset
from pipeline.core.train import build_evaluator
from pipeline.spec.config import ConfigError, EvalConfig
from pipeline.spec.datasets import dataset_config
from pipeline.spec.loading import load_spec

from .conftest import SEARCH_SPACES, tiny_spec
from .fixtures import write_mnist_idx


@pytest.mark.slow  # an Inception pass over digits
def test_digits_in_inception_features_give_the_literatures_metrics_without_modes(weights_file, tmp_path):
    # 60 digits: 20 scored against 40 real ones (Inception at 299 px is a GPU's work)
    digits = load_dataset(dataset_config("mnist", path=str(write_mnist_idx(tmp_path / "mnist", count=60))))
    config = EvalConfig(samples=20, features="inception", inception_weights=str(weights_file))
    evaluator = build_evaluator(config, digits, None)
    metrics = evaluator.evaluate(digits.points[:20])
    assert {"fid", "kid", "precision", "recall", "inception_score", "inception_score_sd"} <= set(metrics)
    assert "modes" not in metrics and "class_score" not in metrics and "classifier_accuracy" not in metrics
    assert evaluator.protocol().startswith("FID Inception pool features")


def test_the_default_keeps_the_digit_classifier():
    spec = tiny_spec("dropout")
    assert spec.trial.eval.features == "dataset"
    evaluator = build_evaluator(spec.trial.eval, load_dataset(spec.trial.dataset), None)
    assert "classifier trained on mnist5k's own classes" in evaluator.protocol()


def test_inception_features_need_image_data():
    with pytest.raises(ConfigError, match="eval.features: inception scores images, and ring8 is not image data"):
        load_spec(SEARCH_SPACES / "ring8.yaml", ["trial.eval.features=inception"])
