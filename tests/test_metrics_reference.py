"""KID, precision/recall, density/coverage and the class score against their definitions,
written here as plain loops over small hand-made or random sets."""

import itertools
import math

import numpy as np
import pytest
import torch

from pipeline.core.metrics.class_score import probabilities_to_class_score, probabilities_to_inception_score
from pipeline.core.metrics.kid import (
    features_to_kid,
    features_to_kid_reference,
    memberships,
    polynomial_mmd2_unbiased,
    reference_to_kid_and_sd,
)
from pipeline.core.metrics.manifold import DC_K, PR_K, features_to_prdc
from pipeline.spec import metric_names as names


def kernel(a, b):
    return (a @ b / a.size + 1) ** 3


def mmd2_by_loops(x, y):
    m = len(x)
    xx = sum(kernel(x[i], x[j]) for i, j in itertools.permutations(range(m), 2)) / (m * (m - 1))
    yy = sum(kernel(y[i], y[j]) for i, j in itertools.permutations(range(m), 2)) / (m * (m - 1))
    xy = sum(kernel(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def test_kid_matches_the_unbiased_estimator():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(12, 3)), rng.normal(loc=0.5, size=(12, 3))
    assert polynomial_mmd2_unbiased(x, y) == pytest.approx(mmd2_by_loops(x, y), rel=1e-10)
    # subsets as large as the sets are the sets themselves, in another order: the same value
    assert features_to_kid(x, y, subsets=3, subset_size=100) == pytest.approx(mmd2_by_loops(x, y), rel=1e-10)


def test_kids_sd_is_the_spread_of_its_subsets_estimates():
    """torch-fidelity's kernel_inception_distance_std: np.std of the per-subset MMD^2 values."""
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(10, 3)), rng.normal(loc=0.4, size=(10, 3))
    reference = features_to_kid_reference(x)
    mean, sd = reference_to_kid_and_sd(reference, y, subsets=4, subset_size=5, seed=3)
    generator = torch.Generator().manual_seed(3)  # the same subsets, drawn as reference_to_kid_and_sd draws them
    real_members, fake_members = memberships(10, 5, 4, generator), memberships(10, 5, 4, generator)
    per_subset = [mmd2_by_loops(x[real_members[s].bool().numpy()], y[fake_members[s].bool().numpy()]) for s in range(4)]
    assert (mean, sd) == pytest.approx((np.mean(per_subset), np.std(per_subset)), rel=1e-9)


def test_kid_near_zero_for_one_distribution_and_grows_with_distance():
    rng = np.random.default_rng(1)
    real = rng.normal(size=(2000, 8))
    same = features_to_kid(real, rng.normal(size=(2000, 8)), subsets=20, subset_size=500)
    near = features_to_kid(real, rng.normal(loc=0.3, size=(2000, 8)), subsets=20, subset_size=500)
    far = features_to_kid(real, rng.normal(loc=1.0, size=(2000, 8)), subsets=20, subset_size=500)
    assert abs(same) < 0.01 < near < far


def radii_by_loops(points, k):
    return [sorted(math.dist(p, q) for j, q in enumerate(points) if j != i)[k - 1] for i, p in enumerate(points)]


def prdc_by_loops(real, fake):
    real_pr, real_dc, fake_pr = radii_by_loops(real, PR_K), radii_by_loops(real, DC_K), radii_by_loops(fake, PR_K)

    def inside(point, centres, radii):
        return [math.dist(point, c) <= r for c, r in zip(centres, radii, strict=True)]

    return {
        names.PRECISION: np.mean([any(inside(f, real, real_pr)) for f in fake]),
        names.RECALL: np.mean([any(inside(r, fake, fake_pr)) for r in real]),
        names.DENSITY: sum(sum(inside(f, real, real_dc)) for f in fake) / (DC_K * len(fake)),
        names.COVERAGE: np.mean(
            [any(math.dist(r, f) <= radius for f in fake) for r, radius in zip(real, real_dc, strict=True)]
        ),
    }


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_prdc_matches_the_definitions(seed):
    rng = np.random.default_rng(seed)
    real, fake = rng.normal(size=(40, 3)), rng.normal(loc=0.4, scale=1.3, size=(30, 3))
    got = features_to_prdc(real, fake)
    expected = prdc_by_loops(real.tolist(), fake.tolist())
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-12), key


def test_prdc_on_hand_made_sets():
    line = np.array([[x, 0.0] for x in range(10)])
    same = features_to_prdc(line, line)
    assert (same[names.PRECISION], same[names.RECALL], same[names.COVERAGE]) == (1.0, 1.0, 1.0)
    # on 0..9 the 5th-neighbour radius is 3 inside and 4-5 near the ends: 64 (point, ball) pairs / (5 * 10)
    assert same[names.DENSITY] == pytest.approx(1.28)
    far = line + 100.0
    assert features_to_prdc(line, far) == {names.PRECISION: 0.0, names.RECALL: 0.0, names.DENSITY: 0.0,
                                           names.COVERAGE: 0.0}
    longer = np.array([[x, 0.0] for x in range(30)])
    metrics = features_to_prdc(longer, longer[:15])  # fakes on the left half of the real line only
    # the balls at 14 (radius 3: k=3 for recall, k=5 for coverage) reach 17, so 18 of 30 real points
    assert metrics[names.PRECISION] == 1.0
    assert metrics[names.RECALL] == pytest.approx(18 / 30) and metrics[names.COVERAGE] == pytest.approx(18 / 30)


def test_prdc_checks_shapes():
    with pytest.raises(ValueError, match="feature sizes differ"):
        features_to_prdc(np.zeros((10, 2)), np.zeros((10, 3)))
    with pytest.raises(ValueError, match="more than k"):
        features_to_prdc(np.zeros((4, 2)), np.zeros((10, 2)))


def test_class_score_bounds():
    confident_balanced = torch.eye(10).repeat(5, 1)
    assert probabilities_to_class_score(confident_balanced) == pytest.approx(10.0, rel=1e-6)
    one_class = torch.zeros(50, 10)
    one_class[:, 3] = 1.0
    assert probabilities_to_class_score(one_class) == pytest.approx(1.0, rel=1e-6)
    assert probabilities_to_class_score(torch.full((50, 10), 0.1)) == pytest.approx(1.0, rel=1e-6)


def improved_gan_inception_score(preds: np.ndarray, splits: int = 10) -> tuple[float, float]:
    """The original Inception Score code (openai/improved-gan, inception_score/model.py), transcribed."""
    scores = []
    for i in range(splits):
        part = preds[(i * preds.shape[0] // splits):((i + 1) * preds.shape[0] // splits), :]
        kl = part * (np.log(part) - np.log(np.expand_dims(np.mean(part, 0), 0)))
        scores.append(np.exp(np.mean(np.sum(kl, 1))))
    return float(np.mean(scores)), float(np.std(scores))


@pytest.mark.parametrize("count", [1000, 1003])
def test_inception_score_matches_the_original_code(count):
    rng = np.random.default_rng(count)
    logits = rng.normal(0, 4, (count, 1008)) + 6 * (np.arange(1008) == rng.integers(0, 50, (count, 1)))
    preds = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)  # a softmax: peaked, never exactly 0
    mean, sd = probabilities_to_inception_score(torch.from_numpy(preds))
    expected_mean, expected_sd = improved_gan_inception_score(preds)
    assert mean == pytest.approx(expected_mean, rel=1e-9) and sd == pytest.approx(expected_sd, rel=1e-6)
    assert 1.0 < mean <= 1008


def test_inception_score_is_the_number_of_classes_for_confident_balanced_samples_and_1_for_one_class():
    """On a known head (confident softmax outputs over Inception's 1008 classes): 10 classes equally often
    give an IS of 10, every sample in one class an IS of 1, in each of the 10 splits (sd 0)."""
    confident = torch.full((1000, 1008), 1e-9)
    confident[torch.arange(1000), torch.arange(1000) % 10] = 1.0
    confident /= confident.sum(dim=1, keepdim=True)
    mean, sd = probabilities_to_inception_score(confident)
    assert mean == pytest.approx(10.0, rel=1e-4) and sd == pytest.approx(0.0, abs=1e-4)
    one_class = torch.full((1000, 1008), 1e-9)
    one_class[:, 7] = 1.0
    one_class /= one_class.sum(dim=1, keepdim=True)
    assert probabilities_to_inception_score(one_class)[0] == pytest.approx(1.0, rel=1e-4)
