"""The digit feature network and the metrics built on it, on mnist5k (trained once, then cached)."""

from dataclasses import replace

import pytest
import torch

from pipeline.core.data import load_dataset
from pipeline.core.metrics import Evaluator
from pipeline.core.metrics.classifier import cached_classifier, classifier_accuracy, classifier_path
from pipeline.core.metrics.split import digit_split
from pipeline.spec import metric_names as names
from pipeline.spec.datasets import dataset_config


@pytest.fixture(scope="module")
def mnist5k():
    return load_dataset(dataset_config("mnist5k"))


@pytest.fixture(scope="module")
def classifier(mnist5k):
    return cached_classifier(mnist5k)


def test_classifier_is_accurate_and_cached(mnist5k, classifier):
    assert classifier.held_out_accuracy >= 0.97
    assert classifier_path(mnist5k).exists()
    again = cached_classifier(mnist5k)
    assert all(torch.equal(again.state_dict[k], v) for k, v in classifier.state_dict.items())
    # another split of the same digits is another classifier: a cached one is never reused for it
    shuffled = replace(mnist5k, points=mnist5k.points.flip(0), labels=mnist5k.labels.flip(0))
    assert classifier_path(shuffled) != classifier_path(mnist5k)


def test_the_split_keeps_the_floor_and_the_accuracy_unseen(mnist5k, classifier):
    split = digit_split(mnist5k)
    assert (len(split.reference), len(split.accuracy), len(split.floor)) == (2500, 500, 2000)
    for part in (split.reference, split.accuracy, split.floor):
        assert part.labels.bincount().tolist() == [len(part) // 10] * 10  # mnist5k's balance, in every part
    rows = lambda part: {bytes(row.numpy()) for row in part.points.flatten(1)}  # noqa: E731
    assert not rows(split.reference) & rows(split.floor) and not rows(split.reference) & rows(split.accuracy)
    assert not rows(split.floor) & rows(split.accuracy)
    assert classifier.split_key == split.key
    # every digit it never trained on, floor included: the 97% on mnist5k's unseen part
    unseen = replace(split.floor, points=torch.cat([split.floor.points, split.accuracy.points]),
                     labels=torch.cat([split.floor.labels, split.accuracy.labels]))
    assert classifier_accuracy(classifier.build(), unseen) >= 0.97


def test_unseen_real_digits_score_like_the_floor(mnist5k, classifier):
    """Digits that neither the classifier nor the reference saw (the accuracy part) against the floor,
    at the same n: a floor that is reachable by real, unseen data."""
    evaluator = Evaluator(mnist5k, samples=500, classifier=classifier)
    floor = evaluator.real_floor()[names.FID]
    unseen = evaluator.evaluate(digit_split(mnist5k).accuracy.points)[names.FID]
    assert floor / 1.5 <= unseen <= 1.5 * floor


def test_the_floor_spread_is_over_disjoint_sets_where_the_pool_allows(mnist5k, classifier):
    small = Evaluator(mnist5k, samples=500, classifier=classifier).floor_spread()
    assert small.method.startswith("4 disjoint sets of 500 digits held back from mnist5k")
    full = Evaluator(mnist5k, samples=2000, classifier=classifier).floor_spread()
    assert full.method.startswith("5 bootstrap resamples")
    assert 0 < full.sd[names.FID] < small.sd[names.FID]  # the noise shrinks with n
    assert names.CLASSIFIER_ACCURACY not in full.sd


def test_an_evaluator_refuses_a_classifier_of_another_split(mnist5k, classifier):
    with pytest.raises(ValueError, match="another split"):
        Evaluator(mnist5k, samples=500, classifier=replace(classifier, split_key="0" * 20))
    with pytest.raises(ValueError, match="at most|exceeds the 2000"):
        Evaluator(mnist5k, samples=2100, classifier=classifier)


def test_held_back_real_digits_score_as_a_perfect_generator(mnist5k, classifier):
    floor = Evaluator(mnist5k, samples=2000, classifier=classifier).real_floor()
    assert floor[names.MODES] == 10
    assert floor[names.MODE_KL] < 0.05
    assert floor[names.PRECISION] > 0.8 and floor[names.RECALL] > 0.8
    assert floor[names.CLASS_SCORE] > 9.0
    assert floor[names.CLASSIFIER_ACCURACY] == classifier.held_out_accuracy


@pytest.fixture(scope="module")
def evaluator(mnist5k, classifier):
    """One evaluator of 500 samples for the tests that only score with it (its real side is computed once)."""
    return Evaluator(mnist5k, samples=500, classifier=classifier)


@pytest.mark.parametrize("digit", range(10))
def test_digits_of_one_class_cover_one_mode(mnist5k, evaluator, digit):
    metrics = evaluator.evaluate(mnist5k.points[mnist5k.labels == digit])
    assert metrics[names.MODES] == 1
    assert metrics[names.MODE_KL] > 2.0  # about log 10 = 2.30
    assert metrics[names.CLASS_SCORE] < 1.5


def test_noise_is_far_from_digits(evaluator):
    noise = evaluator.evaluate(torch.rand(500, 1, 28, 28) * 2 - 1)
    real = evaluator.real_floor()
    assert noise[names.FID] > 20 * real[names.FID]
    assert noise[names.RECALL] < 0.05 and noise[names.COVERAGE] < 0.05
    # k-NN precision is fooled by real outliers with wide balls (36% here); density is not: Naeem et al.'s point
    assert noise[names.DENSITY] < 0.5 * real[names.DENSITY]


@pytest.mark.slow
def test_stacked_mnist_counts_up_to_1000_modes(classifier):
    stacked = load_dataset(dataset_config("stacked_mnist", points=6000))
    evaluator = Evaluator(stacked, samples=3000, classifier=classifier)
    assert evaluator.parts.origin == "stacks of digits held back from mnist5k"  # stacks of unseen digits only
    assert len(evaluator.parts.floor_pool) == 5 * 3000 and len(evaluator.parts.reference) == 3000
    split = digit_split(stacked.source)
    floor_digits = {bytes(row.numpy()) for row in split.floor.points.flatten(1)}
    assert all(bytes(row.numpy()) in floor_digits for row in evaluator.parts.floor_pool[:500].flatten(0, 1).flatten(1))
    floor = evaluator.real_floor()
    # 3000 uniform draws over 1000 modes cover about 1000 (1 - e^-3) = 950; misread digits lose a few
    assert 850 <= floor[names.MODES] <= 1000
    assert floor[names.MODE_KL] < 0.5
    one_stack = stacked.points[:1].repeat(3000, 1, 1, 1)
    collapsed = evaluator.evaluate(one_stack)
    assert collapsed[names.MODES] == 1
    assert collapsed[names.MODE_KL] > 5.0  # about log 1000 = 6.9
