"""The one ranking of a sweep's trials: the report's leaderboard and the registered model both take it.

A trial's ranking value is the best value of the sweep's metric over its run (a GAN's last evaluation
is often not its best), its final value beside it. Trials that ended diverged or errored rank after
every other (their generators are not ones to use); with `search.min_modes`, so do trials whose last
evaluation covered fewer modes; then the ranking value decides, trials without one last.

    from pipeline.stats.ranking import add_ranking_values, rank_with_replicates
    ranked, configs = rank_with_replicates(add_ranking_values(trials, histories, "fid", "min"), "fid", "min")

Pure pandas and scipy: the report and the driver's registration (sweep/champion.py) read the runs and
call these.
"""

from __future__ import annotations

import math

import pandas as pd
from scipy import stats

from pipeline.spec import metric_names as names
from pipeline.stats.compare import Gap, compare_with_best, study_verdict
from pipeline.tracking.keys import CONFIG_TAG, REPLICATE_TAG, STATUS_TAG

BEST, BEST_STEP, FINAL = "best", "best_step", "final"  # columns added to the trials for ranking
GAP_PREFIX = "gap."  # a configuration's comparison with the best one, a column per compare.Gap field
CONFIG_COLUMN = "config_id"
UNUSABLE = frozenset({"diverged", "errored"})  # statuses that rank after every other trial


def cell(row: pd.Series, column: str) -> object:
    value = row.get(column)  # a column that no trial logged is simply absent
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def trial_status(row: pd.Series) -> str:
    """The trial's own status tag, else its MLflow run status (a trial still running has no tag yet)."""
    return str(cell(row, f"tags.{STATUS_TAG}") or cell(row, "status") or "").lower()


def column_or_empty(trials: pd.DataFrame, column: str) -> pd.Series:
    return trials[column] if column in trials else pd.Series(None, index=trials.index, dtype=object)


def unusable(trials: pd.DataFrame) -> pd.Series:
    """Which trials ended diverged or errored (a boolean per row; `trial_status` over the whole frame at once,
    which a 1,000-trial report calls for every configuration)."""
    tag, run = column_or_empty(trials, f"tags.{STATUS_TAG}"), column_or_empty(trials, "status")
    status = tag.where(tag.notna() & (tag != ""), run).fillna("").astype(str).str.lower()
    return status.isin(UNUSABLE)


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


def values_to_interval(values: pd.Series) -> tuple[float, float, float, float]:
    """(mean, sample sd, low, high) of a 95% t interval for the mean; sd and bounds NaN for one value."""
    values = values.dropna().astype(float)
    mean = float(values.mean()) if len(values) else math.nan
    if len(values) < 2:
        return mean, math.nan, math.nan, math.nan
    sd = float(values.std(ddof=1))
    half = float(stats.t.ppf(0.975, len(values) - 1)) * sd / math.sqrt(len(values))
    return mean, sd, mean - half, mean + half


def replicate_values(group: pd.DataFrame) -> dict[int, float]:
    """{replicate: ranking value} of a configuration's usable replicates (diverged and errored left out)."""
    usable = group[~unusable(group)].dropna(subset=[BEST])
    replicates = usable.get(f"tags.{REPLICATE_TAG}", pd.Series(range(len(usable)), index=usable.index))
    return {int(r): float(v) for r, v in zip(replicates, usable[BEST], strict=True)}


def rank_configurations(ranked: pd.DataFrame, mode: str, min_modes: int | None = None) -> pd.DataFrame:
    """One row per configuration (`tags.sweep.config_id`) over its seed replicates' ranking values (the
    `best` column of `add_ranking_values`): n, mean, sd, 95% interval, best first by mean (configurations
    all of whose replicates diverged or errored last; with `min_modes`, those whose replicates cover
    fewer modes on average after the rest), and each one's gap to the first (`pipeline.stats.compare`,
    Holm-adjusted over them all) in the columns GAP_PREFIX + a `Gap` field."""
    rows, values = [], {}
    for config, group in ranked.groupby(f"tags.{CONFIG_TAG}", sort=False):
        usable = group[~unusable(group)]
        values[config] = replicate_values(group)
        mean, sd, low, high = values_to_interval(usable[BEST].dropna())
        modes = usable[f"metrics.{names.MODES}"].mean() if f"metrics.{names.MODES}" in usable else math.nan
        rows.append({CONFIG_COLUMN: config, "replicates": len(group), "n": len(values[config]), "mean": mean,
                     "sd": sd, "low": low, "high": high, "modes": modes})
    configs = pd.DataFrame(rows, columns=[CONFIG_COLUMN, "replicates", "n", "mean", "sd", "low", "high", "modes"])
    configs = configs.sort_values("mean", ascending=mode == "min", na_position="last", kind="stable")
    if min_modes is not None:
        configs = configs.sort_values("modes", key=lambda covered: ~(covered >= min_modes), kind="stable")
    configs = configs.reset_index(drop=True).assign(config_rank=lambda c: range(1, len(c) + 1))
    if configs.empty or not values[configs.iloc[0][CONFIG_COLUMN]]:
        return configs
    compared = {c: v for c, v in values.items() if v}
    gaps = {g.config: g.as_dict() for g in compare_with_best(compared, mode, configs.iloc[0][CONFIG_COLUMN])}
    for field_name in Gap.__dataclass_fields__:
        if field_name != "config":
            configs[GAP_PREFIX + field_name] = [gaps.get(c, {}).get(field_name) for c in configs[CONFIG_COLUMN]]
    return configs


def configuration_gaps(configs: pd.DataFrame) -> list[Gap]:
    """The gaps `rank_configurations` put in its rows, as `Gap`s (configurations without usable values left out)."""
    if configs is None or f"{GAP_PREFIX}gap" not in configs:
        return []
    fields = [f for f in Gap.__dataclass_fields__ if f != "config"]
    rows = [row for _, row in configs.iloc[1:].iterrows() if pd.notna(row[f"{GAP_PREFIX}gap"])]
    return [Gap(config=row[CONFIG_COLUMN], **({f: row[GAP_PREFIX + f] for f in fields}
                                             | {"n": int(row[GAP_PREFIX + "n"])})) for row in rows]


def rank_with_replicates(trials: pd.DataFrame, metric: str, mode: str, min_modes: int | None = None
                         ) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """(trials, configurations): the trials ranked, then, where they carry configuration ids, ordered by
    their configuration's rank (the best replicate of the best configuration first) and the
    configurations ranked by their replicates' mean; None where the trials carry no configuration id (runs
    logged outside a sweep's trials)."""
    ranked = rank_trials(trials, metric, mode, min_modes)
    column = f"tags.{CONFIG_TAG}"
    if ranked.empty or column not in ranked or ranked[column].isna().any():
        return ranked, None
    configs = rank_configurations(ranked, mode, min_modes)
    order = dict(zip(configs[CONFIG_COLUMN], configs["config_rank"], strict=True))
    ranked = ranked.assign(config_rank=ranked[column].map(order))
    ranked = ranked.sort_values(["config_rank", "rank"], kind="stable").assign(rank=range(1, len(ranked) + 1))
    return ranked, configs


def verdict(configs: pd.DataFrame | None, seeds: int, metric: str, delta: float | None = None,
            labels: dict[str, str] | None = None) -> str:
    """One sentence with numbers: a winner, equivalence within `delta`, or unresolved (`stats.compare`)."""
    if configs is None or configs.empty:
        return ""
    if seeds < 2 or configs["n"].max() < 2:
        return (f"With one seed per configuration, differences in {metric} cannot be told from seed noise "
                "(set search.seeds to 3 or more, or race them: search.seeds {min: 2, max: 8}).")
    if len(configs) == 1:
        return "One configuration only: nothing to compare it with."
    labels = labels or {}
    best = configs.iloc[0][CONFIG_COLUMN]
    return study_verdict(configuration_gaps(configs), metric, delta, labels.get(best, "#1"), labels).sentence
