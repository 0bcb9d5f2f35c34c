"""Ranking trials for the leaderboard, the progression strip's frames and fANOVA importance, without MLflow:
plain DataFrames as load_sweep builds them."""

import numpy as np
import pandas as pd

from pipeline.report.importance import trials_to_importance
from pipeline.report.load import parse_optional_int, spread
from pipeline.stats.ranking import BEST, BEST_STEP, FINAL, add_ranking_values, rank_trials


def trials():
    return pd.DataFrame({
        "run_id": ["a", "b", "c", "d"],
        "metrics.fid": [5.0, 1.0, None, 3.0],
        "metrics.modes": [8.0, 1.0, 8.0, 7.0],
    })


def test_best_first_and_missing_values_last():
    ranked = rank_trials(trials(), "fid", "min")
    assert ranked["run_id"].tolist() == ["b", "d", "a", "c"] and ranked["rank"].tolist() == [1, 2, 3, 4]
    assert rank_trials(trials(), "fid", "max")["run_id"].tolist() == ["a", "d", "b", "c"]


def test_min_modes_puts_collapsed_trials_after_the_rest():
    ranked = rank_trials(trials(), "fid", "min", min_modes=7)
    assert ranked["run_id"].tolist() == ["d", "a", "c", "b"]  # b has the best fid but covers 1 mode


def test_min_modes_param_as_logged():
    assert parse_optional_int("7") == 7
    assert parse_optional_int("None") is None and parse_optional_int(float("nan")) is None


def history(values, start=100):
    return pd.DataFrame({"step": [start * (i + 1) for i in range(len(values))], "fid": values})


def test_rank_on_the_best_value_over_the_run_with_the_final_beside_it():
    runs = pd.DataFrame({"run_id": ["early", "late"], "metrics.fid": [9.0, 2.0]})
    histories = {"early": history([5.0, 1.0, 9.0]), "late": history([6.0, 4.0, 2.0])}
    ranked = rank_trials(add_ranking_values(runs, histories, "fid", "min"), "fid", "min")
    assert ranked["run_id"].tolist() == ["early", "late"]  # 1.0 at step 200 beats a final 2.0
    first = ranked.iloc[0]
    assert (first[BEST], first[BEST_STEP], first[FINAL]) == (1.0, 200, 9.0)


def test_trial_without_history_ranks_on_its_final_value():
    runs = pd.DataFrame({"run_id": ["a", "b"], "metrics.fid": [3.0, None]})
    ranked = rank_trials(add_ranking_values(runs, {}, "fid", "min"), "fid", "min")
    assert ranked["run_id"].tolist() == ["a", "b"] and ranked.iloc[0][BEST] == 3.0


def test_progression_strip_spreads_frames_and_keeps_the_ends():
    assert spread([1, 2, 3], 8) == [1, 2, 3]
    picked = spread(list(range(100, 2100, 100)), 8)
    assert len(picked) == 8 and picked[0] == 100 and picked[-1] == 2000 and picked == sorted(picked)


def test_fanova_finds_the_parameter_that_matters():
    rng = np.random.default_rng(0)
    lr = 10 ** rng.uniform(-5, -2, 40)
    dropout = rng.uniform(0, 0.5, 40)
    trials = pd.DataFrame({"params.optim.d.lr": lr.astype(str), "params.model.dropout": dropout.astype(str),
                           "params.optim.d.name": rng.choice(["adam", "sgd"], 40),
                           "best": (np.log10(lr) + 3.5) ** 2 + 0.01 * dropout})
    importance = trials_to_importance(trials, ["optim.d.lr", "model.dropout", "optim.d.name"], "best", "min")
    assert list(importance)[0] == "optim.d.lr" and importance["optim.d.lr"] > 0.8
    assert trials_to_importance(trials.head(3), ["optim.d.lr"], "best", "min") is None  # too few to say
