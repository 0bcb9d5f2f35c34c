"""pipeline.stats on fixed numbers: the three verdicts, the tests against scipy's own, Holm, the
probability of improvement, the seeds for 80% power, a race's rounds and the expected best of k."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from pipeline.stats.best_of_k import expected_best, expected_best_curve
from pipeline.stats.compare import (
    EQUIVALENT,
    UNRESOLVED,
    WINNER,
    compare_pair,
    compare_with_best,
    holm,
    probability_of_improvement,
    seeds_for_power,
    study_verdict,
)
from pipeline.stats.intensify import INCUMBENT_WORSE, Intensification
from pipeline.stats.race import UNUSABLE_RULE, Race


def by_seed(*values: float) -> dict[int, float]:
    return dict(enumerate(values))


def test_a_paired_gap_is_scipys_paired_t() -> None:
    best, other = by_seed(80.0, 84.0, 82.0, 79.0), by_seed(85.0, 90.5, 83.0, 86.0)
    gap = compare_pair(best, other, "min", "b")
    reference = stats.ttest_rel(list(other.values()), list(best.values()), alternative="greater")
    assert gap.test == "paired t" and gap.n == 4
    assert gap.gap == pytest.approx(np.mean(np.subtract(list(other.values()), list(best.values()))))
    assert gap.statistic == pytest.approx(reference.statistic)
    assert gap.p_worse == pytest.approx(reference.pvalue)
    interval = stats.ttest_rel(list(other.values()), list(best.values())).confidence_interval(0.95)
    assert (gap.low, gap.high) == pytest.approx((interval.low, interval.high))


def test_without_shared_seeds_the_gap_is_welchs() -> None:
    best, other = {0: 1.0, 1: 1.2, 2: 0.9}, {5: 1.6, 6: 1.9, 7: 1.5, 8: 2.0}
    gap = compare_pair(best, other, "min")
    reference = stats.ttest_ind(list(other.values()), list(best.values()), equal_var=False, alternative="greater")
    assert gap.test == "Welch t"
    assert gap.p_worse == pytest.approx(reference.pvalue)


def test_max_mode_turns_the_gap_so_that_positive_is_worse() -> None:
    gap = compare_pair(by_seed(0.9, 0.8, 0.85), by_seed(0.5, 0.45, 0.55), "max")
    assert gap.gap == pytest.approx(0.35) and gap.p_worse < 0.01


def test_holm_matches_its_step_down_definition() -> None:
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5]) == [0.5]


def test_probability_of_improvement_counts_pairs_and_half_ties() -> None:
    best, other = by_seed(1.0, 2.0), by_seed(2.0, 3.0)  # min: best beats other in 3 pairs, ties in 1
    assert probability_of_improvement(best, other, "min") == pytest.approx(3.5 / 4)


def test_seeds_for_power_agree_with_the_normal_approximation_for_large_n() -> None:
    needed = seeds_for_power(0.2, 1.0, paired=True)
    normal = ((stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) / 0.2) ** 2
    assert normal <= needed <= normal + 3
    assert seeds_for_power(0.0, 1.0, paired=True) is None


def test_a_clear_winner() -> None:
    values = {"a": by_seed(80, 82, 81), "b": by_seed(95, 97, 96.5), "c": by_seed(90, 91.5, 92)}
    verdict = study_verdict(compare_with_best(values, "min"), "fid")
    assert verdict.kind == WINNER
    closest = min(compare_with_best(values, "min"), key=lambda g: g.low)
    assert closest.config == "c" and closest.low > 0
    assert f"by at least {closest.low:.3g}" in verdict.sentence


def test_equivalence_within_delta() -> None:
    values = {"a": by_seed(80.0, 82.0, 81.0, 80.5), "b": by_seed(80.3, 82.1, 81.4, 80.6)}
    verdict = study_verdict(compare_with_best(values, "min"), "fid", delta=1.0)
    assert verdict.kind == EQUIVALENT
    assert study_verdict(compare_with_best(values, "min"), "fid", delta=0.1).kind == UNRESOLVED


def test_unresolved_says_how_many_seeds_would_resolve_it() -> None:
    values = {"a": by_seed(80, 88, 79), "b": by_seed(84, 85, 86)}
    gaps = compare_with_best(values, "min")
    verdict = study_verdict(gaps, "fid")
    assert verdict.kind == UNRESOLVED
    assert verdict.seeds_needed == seeds_for_power(gaps[0].gap, gaps[0].sd, paired=True)
    assert f"about {verdict.seeds_needed} seeds per configuration" in verdict.sentence


def test_a_race_drops_the_unusable_and_the_worse_then_seeds_the_rest() -> None:
    race = Race(["good", "close", "bad", "diverges"], min_seeds=2, max_seeds=4, mode="min")
    assert race.to_run() == [(c, s) for s in (0, 1) for c in race.configs]
    first_round = {"good": (1.0, 1.2), "close": (1.1, 1.25), "bad": (9.0, 9.3), "diverges": (None, None)}
    for config, values in first_round.items():
        for seed, value in enumerate(values):
            race.record(config, seed, value)
    decision = race.close_round()
    assert decision.best == "good"
    assert decision.dropped["diverges"] == UNUSABLE_RULE
    assert "bad" in decision.dropped and "close" not in decision.dropped
    assert race.to_run() == [("good", 2), ("close", 2)]
    race.record("good", 2, 1.1)
    race.record("close", 2, 1.0)
    assert race.round_complete()
    assert race.close_round().ended is None
    race.record("good", 3, 1.0)
    race.record("close", 3, 1.3)
    assert race.close_round().ended == "every contender reached search.seeds.max (4)"
    summary = race.summary()
    assert summary["trials_run"] == 12 and summary["trials_without_racing"] == 16
    assert summary["configs"]["bad"]["dropped_round"] == 1


def test_a_race_ends_at_its_trial_budget() -> None:
    race = Race(["a", "b", "c"], min_seeds=2, max_seeds=8, mode="min", max_trials=7)
    for config, seed in race.to_run():
        race.record(config, seed, 1.0 + 0.01 * seed + (0.001 if config == "b" else 0.0))
    assert race.close_round().ended == "another round would pass search.max_trials (7)"


def brute_force_expected_max(values: list[float], k: int) -> float:
    """E[max of k draws with replacement] by enumerating every draw."""
    draws = list(itertools.product(values, repeat=k))
    return sum(max(d) for d in draws) / len(draws)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_expected_best_of_k_is_the_mean_over_every_draw(k: int) -> None:
    values = [3.0, 1.0, 4.0, 1.5]
    expected = brute_force_expected_max(values, k)
    assert expected_best(np.array(values), np.array([k]), "max")[0, 0] == pytest.approx(expected)
    negated = [-v for v in values]
    assert expected_best(np.array(values), np.array([k]), "min")[0, 0] == pytest.approx(
        -brute_force_expected_max(negated, k))


def test_the_expected_best_curve_improves_with_k_inside_its_band() -> None:
    curve = expected_best_curve([91.0, 84.2, 88.7, 79.9, math.inf], "min")  # a diverged trial left out
    assert list(curve.k) == [1, 2, 3, 4]
    assert all(np.diff(curve.expected) <= 0)
    assert all(curve.low <= curve.expected + 1e-9) and all(curve.expected <= curve.high + 1e-9)


def test_intensification_rejects_a_worse_challenger_and_crowns_a_better_one() -> None:
    race = Intensification(min_seeds=2, max_seeds=4, mode="min")
    race.add("first")
    race.record("first", 0, 10.0)
    race.record("first", 1, 10.5)
    assert race.settle("first").kept == ["first"] and race.incumbent == "first"
    race.add("worse")
    race.record("worse", 0, 20.0)
    race.record("worse", 1, 20.4)
    decision = race.settle("worse")
    assert decision.dropped["worse"].startswith(INCUMBENT_WORSE)
    assert decision.tests[0]["p_worse"] == pytest.approx(stats.ttest_rel([20.0, 20.4], [10.0, 10.5],
                                                                          alternative="greater").pvalue)
    race.add("better")
    race.record("better", 0, 9.0)
    race.record("better", 1, 9.8)
    decision = race.settle("better")  # matched both of the incumbent's seeds, not worse, lower mean
    assert race.incumbent == "better" and "first" in decision.dropped
    assert race.next_seeds("better") == [2]  # the new incumbent accumulates evidence
    race.add("unusable")
    race.record("unusable", 0, None)
    race.record("unusable", 1, math.nan)
    assert race.settle("unusable").dropped == {"unusable": UNUSABLE_RULE}
    assert race.summary(4)["trials_run"] == 8 and race.summary(4)["trials_without_racing"] == 16


def test_a_challenger_that_is_not_worse_runs_the_incumbents_next_seed() -> None:
    race = Intensification(min_seeds=2, max_seeds=4, mode="max")
    race.add("inc")
    for seed, value in enumerate((0.5, 0.6, 0.55)):
        race.record("inc", seed, value)
    race.incumbent = "inc"
    race.add("challenger")
    race.record("challenger", 0, 0.52)
    race.record("challenger", 1, 0.58)
    assert race.settle("challenger") is None and race.next_seeds("challenger") == [2]


def test_a_race_ends_when_its_contenders_are_equivalent_within_delta() -> None:
    race = Race(["a", "b"], min_seeds=3, max_seeds=8, mode="min", delta=1.0)
    for seed, (a, b) in enumerate([(10.0, 10.3), (10.4, 10.2), (9.8, 9.9)]):
        race.record("a", seed, a)
        race.record("b", seed, b)
    decision = race.close_round()
    assert decision.kept == ["a", "b"]
    assert decision.ended == "the contenders are equivalent within search.delta (1)"
    assert race.to_run() == []
