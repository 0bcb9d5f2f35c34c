"""Metrics against references: scipy's sqrtm, closed forms, hand-made mode assignments."""

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from pipeline.core.data import load_dataset
from pipeline.core.data.mixtures import RING8_STD, mixture, ring8_centres
from pipeline.core.metrics import Evaluator
from pipeline.core.metrics.classifier import DigitClassifier, classify
from pipeline.core.metrics.fid import features_to_statistics, statistics_to_fid
from pipeline.spec import metric_names as names
from pipeline.spec.datasets import dataset_config


def scipy_fid(mu1, s1, mu2, s2):
    root = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * root))


@pytest.mark.parametrize("dim", [2, 16, 64])
def test_fid_matches_scipy_sqrtm(dim):
    rng = np.random.default_rng(dim)
    a, b = rng.normal(size=(dim, dim)), rng.normal(size=(dim, dim))
    s1, s2 = a @ a.T + 0.1 * np.eye(dim), b @ b.T + 0.1 * np.eye(dim)
    mu1, mu2 = rng.normal(size=dim), rng.normal(size=dim)
    assert statistics_to_fid(mu1, s1, mu2, s2) == pytest.approx(scipy_fid(mu1, s1, mu2, s2), rel=1e-6)


def test_fid_closed_form_for_diagonal_gaussians():
    var1, var2 = np.array([1.0, 4.0, 0.25]), np.array([2.0, 1.0, 0.25])
    mu1, mu2 = np.zeros(3), np.array([1.0, 0.0, -2.0])
    expected = 5.0 + ((np.sqrt(var1) - np.sqrt(var2)) ** 2).sum()
    assert statistics_to_fid(mu1, np.diag(var1), mu2, np.diag(var2)) == pytest.approx(expected, rel=1e-12)


def test_fid_of_identical_statistics_is_zero_and_never_negative():
    features = np.random.default_rng(0).normal(size=(500, 32))
    mu, sigma = features_to_statistics(features)
    assert 0.0 <= statistics_to_fid(mu, sigma, mu, sigma) < 1e-8
    singular = np.zeros((4, 4))  # collapsed samples: a rank-0 covariance
    assert statistics_to_fid(mu[:4], singular, mu[:4], singular) == 0.0


def test_statistics_check_shapes():
    with pytest.raises(ValueError, match="N x D"):
        features_to_statistics(np.zeros(10))
    with pytest.raises(ValueError, match="mismatched"):
        statistics_to_fid(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))


@pytest.fixture(scope="module")
def ring8_evaluator():
    return Evaluator(load_dataset(dataset_config("ring8")), samples=2500)


def test_true_mixture_samples_cover_every_mode(ring8_evaluator):
    fresh = mixture("ring8", ring8_centres(), RING8_STD, points=2500, seed=123).points
    metrics = ring8_evaluator.evaluate(fresh)
    assert metrics[names.MODES] == 8
    # Within 3 sd in 2D: P(chi_2 <= 3) = 1 - exp(-4.5) = 0.9889, PacGAN's radius (its MetricLogger)
    assert metrics[names.HQ_FRACTION] == pytest.approx(1 - math.exp(-4.5), abs=0.006)
    assert metrics[names.MODE_KL] < 0.01
    assert metrics[names.FID] < 1e-3


def test_collapsed_samples_give_one_mode_and_log_k(ring8_evaluator):
    collapsed = ring8_centres()[3].repeat(2500, 1) + 0.001 * torch.randn(2500, 2)
    metrics = ring8_evaluator.evaluate(collapsed)
    assert metrics[names.MODES] == 1
    assert metrics[names.HQ_FRACTION] == 1.0
    # KL(one-hot || real histogram) = -log(real share of that mode), about log 8
    assert metrics[names.MODE_KL] == pytest.approx(math.log(8), abs=0.02)


@pytest.mark.parametrize("shift", [0.1, 0.5, 2.0])
def test_shifted_ring_gives_fid_of_shift_squared(ring8_evaluator, shift):
    fresh = mixture("ring8", ring8_centres(), RING8_STD, points=2500, seed=7).points
    metrics = ring8_evaluator.evaluate(fresh + torch.tensor([shift, 0.0]))
    # exact up to sampling noise: 2 * shift * (mean difference, sd 0.014 at n=2500) + covariance noise
    assert metrics[names.FID] == pytest.approx(shift**2, abs=0.01 + 0.1 * shift**2)


def test_evaluator_checks_sample_shape(ring8_evaluator):
    with pytest.raises(ValueError, match="N x 2"):
        ring8_evaluator.evaluate(torch.zeros(2500, 3))
    with pytest.raises(ValueError, match="exactly 2500"):
        ring8_evaluator.evaluate(torch.zeros(100, 2))


def test_classifier_features_do_not_depend_on_batch_size():
    torch.manual_seed(0)
    model = DigitClassifier().eval()
    images = torch.rand(103, 1, 28, 28) * 2 - 1
    features_big, probs_big = classify(model, images, batch=500)
    features_small, probs_small = classify(model, images, batch=7)
    assert torch.allclose(features_big, features_small, atol=1e-5)
    assert torch.allclose(probs_big, probs_small, atol=1e-6)
