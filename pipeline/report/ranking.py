"""The one ranking of a sweep's trials: the report's leaderboard and the registered model both take it.

A trial's ranking value is the best value of the sweep's metric over its run (a GAN's last evaluation
is often not its best), its final value beside it. Trials that ended diverged or errored rank after
every other (their generators are not ones to use); with `search.min_modes`, so do trials whose last
evaluation covered fewer modes; then the ranking value decides, trials without one last.

    from pipeline.report.ranking import rank_sweep
    ranked = rank_sweep(MlflowClient(uri), experiment_id, parent_run_id, "fid", "min", min_modes=None)
"""

from __future__ import annotations

import math

import pandas as pd
from mlflow.tracking import MlflowClient

from pipeline import metric_names as names
from pipeline.report.load import metric_history, search
from pipeline.run_keys import STATUS_TAG

BEST, BEST_STEP, FINAL = "best", "best_step", "final"  # columns added to the trials for ranking
UNUSABLE = frozenset({"diverged", "errored"})  # statuses that rank after every other trial


def cell(row: pd.Series, column: str) -> object:
    value = row.get(column)  # a column that no trial logged is simply absent
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def trial_status(row: pd.Series) -> str:
    """The trial's own status tag, else its MLflow run status (a trial still running has no tag yet)."""
    return str(cell(row, f"tags.{STATUS_TAG}") or cell(row, "status") or "").lower()


def add_ranking_values(trials: pd.DataFrame, histories: dict[str, pd.DataFrame], metric: str, mode: str
                       ) -> pd.DataFrame:
    """Each trial's best value of `metric` over its run (and the step), and its final value."""
    best, best_step, final = [], [], []
    for _, trial in trials.iterrows():
        history = histories.get(trial["run_id"], pd.DataFrame())
        values = history[metric].dropna() if metric in history else pd.Series(dtype=float)
        if values.empty:  # no history (a store that lost it): the final value is all there is
            last = cell(trial, f"metrics.{metric}")
            best.append(last)
            best_step.append(None)
            final.append(last)
            continue
        position = values.idxmin() if mode == "min" else values.idxmax()
        best.append(float(values[position]))
        best_step.append(int(history.loc[position, "step"]))
        final.append(float(values.iloc[-1]))
    return trials.assign(**{BEST: pd.Series(best, index=trials.index, dtype=float), BEST_STEP: best_step,
                            FINAL: pd.Series(final, index=trials.index, dtype=float)})


def rank_trials(trials: pd.DataFrame, metric: str, mode: str, min_modes: int | None = None) -> pd.DataFrame:
    """Trials best first (see the module's docstring), with a `rank` column from 1; ranks on the `best`
    column where `add_ranking_values` added it, else on the final `metric`."""
    column = BEST if BEST in trials else f"metrics.{metric}"
    if trials.empty or column not in trials:
        return trials.assign(rank=range(1, len(trials) + 1))
    ranked = trials.sort_values(column, ascending=mode == "min", na_position="last", kind="stable")
    modes = f"metrics.{names.MODES}"
    if min_modes is not None and modes in ranked:
        ranked = ranked.sort_values(modes, key=lambda covered: covered < min_modes, kind="stable")
    unusable = ranked.apply(lambda row: trial_status(row) in UNUSABLE, axis=1).astype(bool)
    ranked = ranked.assign(_unusable=unusable).sort_values("_unusable", kind="stable").drop(columns="_unusable")
    return ranked.assign(rank=range(1, len(ranked) + 1))


def rank_sweep(client: MlflowClient, experiment_id: str, parent_run_id: str, metric: str, mode: str,
               min_modes: int | None) -> pd.DataFrame:
    """The trials of one sweep read from MLflow (the ranking metric's history only) and ranked."""
    trials = search(client, experiment_id, f"tags.mlflow.parentRunId = '{parent_run_id}'")
    if trials.empty:
        return rank_trials(trials, metric, mode, min_modes)
    histories = {run_id: metric_history(client, run_id, [metric]) for run_id in trials["run_id"]}
    return rank_trials(add_ranking_values(trials, histories, metric, mode), metric, mode, min_modes)
