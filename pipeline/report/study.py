"""The report's study sections: the configurations with their gaps to the best, the verdict, the race's
rounds and what racing saved, and the expected best after k trials (for random and Optuna searches).

    from pipeline.report.study import study_views
    views = study_views(data, ranked, configs)   # inside render.render_html
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
from matplotlib.figure import Figure

from pipeline.report.load import SweepData
from pipeline.report.plots import to_png
from pipeline.stats.best_of_k import expected_best_curve
from pipeline.stats.compare import SIGNIFICANCE
from pipeline.stats.ranking import BEST, CONFIG_COLUMN, GAP_PREFIX, cell, trial_status, unusable, verdict
from pipeline.tracking.keys import CONFIG_TAG, trial_name


def number(value: object) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


@dataclass
class ConfigurationView:
    """One configuration and its seed replicates (their trials' names, ranking values and statuses)."""

    rank: int
    config_id: str
    params: list[str]
    n: int  # replicates with a ranking value (not diverged or errored)
    replicates: int
    mean: float | None
    sd: float | None
    low: float | None
    high: float | None
    gap: float | None  # worse than the best by this much (None for the best)
    gap_low: float | None
    gap_high: float | None
    test: str
    p_holm: float | None  # two-sided, Holm-adjusted
    prob_improvement: float | None  # P(the best beats it)
    told_apart: bool  # the gap is significant after Holm
    members: list[tuple[str, str, float | None, str]]  # (trial name, run id, best value, status)
    race: str = ""  # a race: "round 2: why" where it was dropped, or "contender"


def configuration_views(data: SweepData, ranked: pd.DataFrame, configs: pd.DataFrame | None
                        ) -> list[ConfigurationView]:
    if configs is None or data.seeds < 2:
        return []
    raced = (data.race or {}).get("summary", {}).get("configs", {})
    views = []
    for _, config in configs.iterrows():
        group = ranked[ranked[f"tags.{CONFIG_TAG}"] == config[CONFIG_COLUMN]]
        first = group.iloc[0]
        gap = {field: number(config.get(GAP_PREFIX + field)) for field in ("gap", "low", "high", "p_differ_holm",
                                                                           "prob_improvement")}
        entry = raced.get(config[CONFIG_COLUMN])
        race = "" if entry is None else (f"dropped in round {entry['dropped_round']}: {entry['dropped_why']}"
                                         if entry["dropped_round"] else "contender to the end")
        views.append(ConfigurationView(
            rank=int(config["config_rank"]), config_id=config[CONFIG_COLUMN],
            params=[str(cell(first, f"params.{key}") or "") for key in data.swept],
            n=int(config["n"]), replicates=int(config["replicates"]),
            mean=number(config["mean"]), sd=number(config["sd"]), low=number(config["low"]),
            high=number(config["high"]), gap=gap["gap"], gap_low=gap["low"], gap_high=gap["high"],
            test=str(config.get(f"{GAP_PREFIX}test") or ""), p_holm=gap["p_differ_holm"],
            prob_improvement=gap["prob_improvement"],
            told_apart=gap["p_differ_holm"] is not None and gap["p_differ_holm"] < SIGNIFICANCE,
            members=[(str(t["run_name"]), t["run_id"], cell(t, BEST), trial_status(t)) for _, t in group.iterrows()],
            race=race,
        ))
    return views


@dataclass
class RaceView:
    rounds: list[tuple[int, int, str, str, str]]  # number, seeds, best, dropped (name: why), ended
    trials_run: int
    trials_without_racing: int
    saved_percent: float
    ended: str


def race_view(data: SweepData) -> RaceView | None:
    if data.race is None:
        return None
    names = {config: trial_name(point) or config for config, point in data.race["points"].items()}
    rounds = [(r["number"], r["seeds"], names.get(r["best"], r["best"]),
               "; ".join(f"{names.get(c, c)}: {why}" for c, why in r["dropped"].items()) or "none",
               r["ended"] or "") for r in data.race["rounds"]]
    summary = data.race["summary"]
    return RaceView(rounds, summary["trials_run"], summary["trials_without_racing"],
                    100 * summary["saved_fraction"], summary["ended"] or "")


def best_of_k_chart(data: SweepData, ranked: pd.DataFrame) -> bytes | None:
    """Expected best value after k trials, with its bootstrap band (Dodge et al. 2019), for a search
    that draws its trials (random, optuna); diverged and errored trials count as draws that found nothing."""
    if data.algorithm not in ("random", "optuna") or BEST not in ranked:
        return None
    usable = ranked[~unusable(ranked)][BEST].dropna()
    if len(usable) < 3:
        return None
    curve = expected_best_curve(usable.tolist(), data.mode)
    figure = Figure(figsize=(6, 3.2))
    ax = figure.subplots()
    figure.subplots_adjust(left=0.12, right=0.97, bottom=0.16, top=0.88)
    ax.fill_between(curve.k, curve.low, curve.high, alpha=0.25, label="95% bootstrap band")
    ax.plot(curve.k, curve.expected, marker="o", markersize=3, label="expected best")
    ax.set(xlabel="trials (k)", ylabel=f"best {data.metric}", title=f"Expected best {data.metric} after k trials")
    ax.legend(fontsize=7)
    return to_png(figure)


def short(value: str) -> str:
    """A logged value as people read it: 0.001990682979457159 -> 0.001991; words stay as they are."""
    try:
        return f"{float(value):.4g}"
    except ValueError:
        return value


def study_verdict_text(data: SweepData, configs: pd.DataFrame | None, views: list[ConfigurationView]) -> str:
    """The verdict, naming each configuration by its rank and swept values."""
    labels = {}
    for view in views:
        values = ", ".join(f"{key}={short(value)}" for key, value in zip(data.swept, view.params, strict=True) if value)
        labels[view.config_id] = f"#{view.rank} ({values})"
    return verdict(configs, data.seeds, data.metric, data.delta, labels)


def eval_noise(data: SweepData, ranked: pd.DataFrame) -> dict[str, float | None]:
    """The evaluation's own sampling noise at this n: the floor's sd of the metric, and KID's sd over
    its subsets (the median over trials' last evaluations), beside the configurations' seed sd."""
    kid_sd = ranked.get("metrics.kid_sd")
    return {"floor_sd": data.floor_sd.get(data.metric),
            "kid_sd": float(kid_sd.median()) if kid_sd is not None and kid_sd.notna().any() else None}
