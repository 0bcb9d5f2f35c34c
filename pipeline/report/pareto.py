"""The trade-off of a multi-objective sweep (`metric: [fid, recall]`): each configuration's replicate
means of every metric, and the Pareto front, the configurations no other beats on all of them.

    front = configuration_objectives(trials, histories, (("fid", "min"), ("recall", "max")), min_modes)
    front[front["pareto"]]    # the non-dominated configurations, best first on the first metric

A trial's value of each metric is its best over the run, as in the one ranking (ranking.py). Only
configurations the ranking puts first compete: some replicate usable (not diverged or errored) and,
with `search.min_modes`, enough modes covered. The ranking's #1 (the registered model's
configuration) is then always on the front: nothing beats it on the first metric.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from pipeline.spec import metric_names as names
from pipeline.stats.ranking import BEST, CONFIG_COLUMN, add_ranking_values, unusable, values_to_interval
from pipeline.tracking.keys import CONFIG_TAG

Objectives = tuple[tuple[str, str], ...]


def mean_column(metric: str) -> str:
    return f"mean.{metric}"


def sd_column(metric: str) -> str:
    return f"sd.{metric}"


def non_dominated(values: np.ndarray, modes: list[str]) -> np.ndarray:
    """For K points x M objectives: True where no other point is at least as good on every objective
    and better on one. NaN rows are never on the front."""
    if values.ndim != 2 or values.shape[1] != len(modes):
        raise ValueError(f"values must be K x {len(modes)} (one column per mode), got shape {values.shape}")
    signs = np.array([1.0 if mode == "min" else -1.0 for mode in modes])
    costs = values * signs  # every objective as a cost to minimise
    valid = ~np.isnan(costs).any(axis=1)
    front = valid.copy()
    for i in np.flatnonzero(valid):
        others = costs[valid]
        beats = (others <= costs[i]).all(axis=1) & (others < costs[i]).any(axis=1)
        front[i] = not beats.any()
    return front


def trial_objectives(trials: pd.DataFrame, histories: dict[str, pd.DataFrame], objectives: Objectives
                     ) -> pd.DataFrame:
    """The trials with a `best.<metric>` column for each objective: its best over the run."""
    columns = {f"best.{metric}": add_ranking_values(trials, histories, metric, mode)[BEST]
               for metric, mode in objectives}
    return trials.assign(**columns)


def configuration_objectives(trials: pd.DataFrame, histories: dict[str, pd.DataFrame], objectives: Objectives,
                             min_modes: int | None = None) -> pd.DataFrame:
    """One row per competing configuration (its `tags.sweep.config_id`, or the trial's run where it has
    none): config_id, run_id (its first trial), n (usable replicates), mean.<metric> and sd.<metric>
    for each objective, and `pareto`; front first, each part best first on the first metric."""
    metrics = [metric for metric, _ in objectives]
    columns = [CONFIG_COLUMN, "run_id", "n", *(c for m in metrics for c in (mean_column(m), sd_column(m))), "pareto"]
    scored = trial_objectives(trials, histories, objectives)
    scored = scored[~unusable(scored)] if not scored.empty else scored
    if scored.empty:
        return pd.DataFrame(columns=columns)
    config_tag = f"tags.{CONFIG_TAG}"
    keys = scored[config_tag].fillna(scored["run_id"]) if config_tag in scored else scored["run_id"]
    rows = []
    for key, group in scored.groupby(keys, sort=False):
        modes_covered = group[f"metrics.{names.MODES}"].mean() if f"metrics.{names.MODES}" in group else math.nan
        if min_modes is not None and not modes_covered >= min_modes:
            continue
        row = {CONFIG_COLUMN: key, "run_id": group.iloc[0]["run_id"], "n": len(group)}
        for metric in metrics:
            row[mean_column(metric)], row[sd_column(metric)], _, _ = values_to_interval(group[f"best.{metric}"])
        rows.append(row)
    configs = pd.DataFrame(rows, columns=columns[:-1])
    if configs.empty:
        return pd.DataFrame(columns=columns)
    means = configs[[mean_column(m) for m in metrics]].to_numpy(dtype=float)
    configs["pareto"] = non_dominated(means, [mode for _, mode in objectives])
    first, first_mode = objectives[0]
    configs = configs.sort_values(mean_column(first), ascending=first_mode == "min", na_position="last",
                                  kind="stable")
    return configs.sort_values("pareto", ascending=False, kind="stable").reset_index(drop=True)
