"""The digit feature network and the metrics built on it, on mnist5k (trained once, then cached)."""

import pytest
import torch

from pipeline import metric_names as names
from pipeline.config import dataset_config
from pipeline.data import load_dataset
from pipeline.metrics import Evaluator
from pipeline.metrics.classifier import cache_dir, cached_classifier, dataset_key


@pytest.fixture(scope="module")
def mnist5k():
    return load_dataset(dataset_config("mnist5k"))


@pytest.fixture(scope="module")
def classifier(mnist5k):
    return cached_classifier(mnist5k)


def test_classifier_is_accurate_and_cached(mnist5k, classifier):
    assert classifier.held_out_accuracy >= 0.97
    assert (cache_dir() / "classifiers" / f"mnist5k-{dataset_key(mnist5k)}.pt").exists()
    again = cached_classifier(mnist5k)
    assert all(torch.equal(again.state_dict[k], v) for k, v in classifier.state_dict.items())


def test_held_back_real_digits_score_as_a_perfect_generator(mnist5k, classifier):
    floor = Evaluator(mnist5k, samples=2000, classifier=classifier).real_floor()
    assert floor[names.MODES] == 10
    assert floor[names.MODE_KL] < 0.05
    assert floor[names.PRECISION] > 0.8 and floor[names.RECALL] > 0.8
    assert floor[names.CLASS_SCORE] > 9.0
    assert floor[names.CLASSIFIER_ACCURACY] == classifier.held_out_accuracy


@pytest.mark.parametrize("digit", range(10))
def test_digits_of_one_class_cover_one_mode(mnist5k, classifier, digit):
    evaluator = Evaluator(mnist5k, samples=500, classifier=classifier)
    metrics = evaluator.evaluate(mnist5k.points[mnist5k.labels == digit])
    assert metrics[names.MODES] == 1
    assert metrics[names.MODE_KL] > 2.0  # about log 10 = 2.30
    assert metrics[names.CLASS_SCORE] < 1.5


def test_noise_is_far_from_digits(mnist5k, classifier):
    evaluator = Evaluator(mnist5k, samples=500, classifier=classifier)
    noise = evaluator.evaluate(torch.rand(500, 1, 28, 28) * 2 - 1)
    real = evaluator.real_floor()
    assert noise[names.FID] > 20 * real[names.FID]
    assert noise[names.RECALL] < 0.05 and noise[names.COVERAGE] < 0.05
    # k-NN precision is fooled by real outliers with wide balls (36% here); density is not: Naeem et al.'s point
    assert noise[names.DENSITY] < 0.5 * real[names.DENSITY]


def test_stacked_mnist_counts_up_to_1000_modes(classifier):
    stacked = load_dataset(dataset_config("stacked_mnist", points=6000))
    evaluator = Evaluator(stacked, samples=3000, classifier=classifier)
    floor = evaluator.real_floor()
    # 3000 uniform draws over 1000 modes cover about 1000 (1 - e^-3) = 950; misread digits lose a few
    assert 850 <= floor[names.MODES] <= 1000
    assert floor[names.MODE_KL] < 0.5
    one_stack = stacked.points[:1].repeat(3000, 1, 1, 1)
    collapsed = evaluator.evaluate(one_stack)
    assert collapsed[names.MODES] == 1
    assert collapsed[names.MODE_KL] > 5.0  # about log 1000 = 6.9
