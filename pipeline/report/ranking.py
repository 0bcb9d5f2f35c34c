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

from pipeline.report.load import metric_history
from pipeline.spec import metric_names as names
from pipeline.tracking.keys import CONFIG_TAG, STATUS_TAG
from pipeline.tracking.location import search

BEST, BEST_STEP, FINAL = "best", "best_step", "final"  # columns added to the trials for ranking
CONFIG_COLUMN = "config_id"
UNUSABLE = frozenset({"diverged", "errored"})  # statuses that rank after every other trial


def cell(row: pd.Series, column: str) -> object:
    value = row.get(column)  # a column that no trial logged is simply absent
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def trial_status(row: pd.Series) -> str:
    """The trial's own status tag, else its MLflow run status (a trial still running has no tag yet)."""
    return str(cell(row, f"tags.{STATUS_TAG}") or cell(row, "status") or "").lower()


def unusable(trials: pd.DataFrame) -> pd.Series:
    """Which trials ended diverged or errored (a boolean per row)."""
    return trials.apply(lambda row: trial_status(row) in UNUSABLE, axis=1).astype(bool)


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
    ranked = ranked.assign(_unusable=unusable(ranked)).sort_values("_unusable", kind="stable").drop(columns="_unusable")
    return ranked.assign(rank=range(1, len(ranked) + 1))


def rank_sweep(client: MlflowClient, experiment_id: str, parent_run_id: str, metric: str, mode: str,
               min_modes: int | None) -> pd.DataFrame:
    """The trials of one sweep read from MLflow (the ranking metric's history only) and ranked."""
    trials = search(client, experiment_id, f"tags.mlflow.parentRunId = '{parent_run_id}'")
    if trials.empty:
        return rank_trials(trials, metric, mode, min_modes)
    histories = {run_id: metric_history(client, run_id, [metric]) for run_id in trials["run_id"]}
    return rank_with_replicates(add_ranking_values(trials, histories, metric, mode), metric, mode, min_modes)[0]


# Student's t two-sided 95% critical values by degrees of freedom (scipy.stats.t.ppf(0.975, df));
# beyond the table, the normal quantile with its first two correction terms (Cornish-Fisher)
T_975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
         11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110, 18: 2.101, 19: 2.093,
         20: 2.086, 21: 2.080, 22: 2.074, 23: 2.069, 24: 2.064, 25: 2.060, 26: 2.056, 27: 2.052, 28: 2.048,
         29: 2.045, 30: 2.042}
Z_975 = 1.959964


def t_critical(df: int) -> float:
    """The two-sided 95% critical value of Student's t with `df` degrees of freedom."""
    if df < 1:
        raise ValueError(f"a t interval needs at least 2 values (df >= 1), got df {df}")
    z = Z_975
    return T_975[df] if df in T_975 else z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


def values_to_interval(values: pd.Series) -> tuple[float, float, float, float]:
    """(mean, sample sd, low, high) of a 95% t interval for the mean; sd and bounds NaN for one value."""
    values = values.dropna().astype(float)
    mean = float(values.mean()) if len(values) else math.nan
    if len(values) < 2:
        return mean, math.nan, math.nan, math.nan
    sd = float(values.std(ddof=1))
    half = t_critical(len(values) - 1) * sd / math.sqrt(len(values))
    return mean, sd, mean - half, mean + half


def rank_configurations(ranked: pd.DataFrame, mode: str, min_modes: int | None = None) -> pd.DataFrame:
    """One row per configuration (`tags.sweep.config_id`) over its seed replicates' ranking values (the
    `best` column of `add_ranking_values`):
    n, mean, sd, 95% interval, best first by mean (configurations all of whose replicates diverged or
    errored last; with `min_modes`, those whose replicates cover fewer modes on average after the rest),
    and `tied`: whether its interval overlaps the first one's."""
    rows = []
    for config, group in ranked.groupby(f"tags.{CONFIG_TAG}", sort=False):
        usable = group[~unusable(group)]
        values = usable[BEST].dropna()
        mean, sd, low, high = values_to_interval(values)
        modes = usable[f"metrics.{names.MODES}"].mean() if f"metrics.{names.MODES}" in usable else math.nan
        rows.append({CONFIG_COLUMN: config, "replicates": len(group), "n": len(values), "mean": mean, "sd": sd,
                     "low": low, "high": high, "modes": modes})
    configs = pd.DataFrame(rows, columns=[CONFIG_COLUMN, "replicates", "n", "mean", "sd", "low", "high", "modes"])
    configs = configs.sort_values("mean", ascending=mode == "min", na_position="last", kind="stable")
    if min_modes is not None:
        configs = configs.sort_values("modes", key=lambda covered: ~(covered >= min_modes), kind="stable")
    configs = configs.reset_index(drop=True)
    best = configs.iloc[0] if len(configs) else None
    tied = [False] + [bool(best is not None and row.low <= best.high and best.low <= row.high)
                      for row in configs.iloc[1:].itertuples()]
    return configs.assign(tied=tied[: len(configs)], config_rank=range(1, len(configs) + 1))


def rank_with_replicates(trials: pd.DataFrame, metric: str, mode: str, min_modes: int | None = None
                         ) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """(trials, configurations): the trials ranked, then, where they carry configuration ids, ordered by
    their configuration's rank (the best replicate of the best configuration first) and the
    configurations ranked by their replicates' mean; None where no trial carries one (older sweeps)."""
    ranked = rank_trials(trials, metric, mode, min_modes)
    column = f"tags.{CONFIG_TAG}"
    if ranked.empty or column not in ranked or ranked[column].isna().any():
        return ranked, None
    configs = rank_configurations(ranked, mode, min_modes)
    order = dict(zip(configs[CONFIG_COLUMN], configs["config_rank"], strict=True))
    ranked = ranked.assign(config_rank=ranked[column].map(order))
    ranked = ranked.sort_values(["config_rank", "rank"], kind="stable").assign(rank=range(1, len(ranked) + 1))
    return ranked, configs


def verdict(configs: pd.DataFrame | None, seeds: int, metric: str) -> str:
    """One sentence: did the sweep find a real winner?"""
    if configs is None or configs.empty:
        return ""
    if seeds < 2 or configs["n"].max() < 2:
        return (f"With one seed per configuration, differences in {metric} cannot be told from seed noise "
                "(set search.seeds to 3 or more for intervals).")
    tied = int(configs["tied"].sum())
    if len(configs) == 1:
        return "One configuration only: nothing to compare it with."
    if tied == 0:
        return (f"Configuration #1 is a real winner: no other configuration's 95% interval of {metric} "
                "overlaps its own.")
    return (f"No clear winner: {tied} other configuration(s) have 95% intervals of {metric} that overlap "
            "the best one's, so they are tied with it.")
