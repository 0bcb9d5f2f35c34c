"""Ranking trials for the leaderboard, without MLflow: plain DataFrames as load_sweep builds them."""

import pandas as pd

from pipeline.report.load import parse_optional_int
from pipeline.report.render import rank_trials


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
