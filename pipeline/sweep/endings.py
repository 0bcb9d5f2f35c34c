"""How a sweep's trials and the sweep itself ended, said on their MLflow runs: what stopped a trial
early (a scheduler, the collapse rule, search.target, the sweep's end) and why the sweep ended
(every trial ran, search.target, search.time_budget_s)."""

from __future__ import annotations

import pandas as pd
from ray import tune

from pipeline.spec import metric_names as names
from pipeline.spec.config import SweepSpec
from pipeline.sweep.space import evaluations
from pipeline.tracking.keys import PARAMS_KEY, trial_name
from pipeline.tracking.location import SweepRun
from pipeline.tracking.sweep_runs import mark_stopped


def close_stopped_trials(spec: SweepSpec, sweep: SweepRun, results: tune.ResultGrid, sweep_end: str | None) -> None:
    """Trials that a scheduler, a stopper or the sweep's end stopped never reach their own end: give
    their runs one. `sweep_end`: why the sweep ended before every trial ran, if it did."""
    planned = evaluations(spec)
    for result in results:
        done = result.metrics.get("training_iteration", 0) if result.metrics else 0
        if result.error is None and result.metrics and done < planned:
            by = stopped_by(spec, result.metrics_dataframe, sweep_end)
            mark_stopped(sweep, result.metrics["trial_id"], f"stopped by {by} after {done} of {planned} evaluations")
        elif result.error is None and result.metrics:  # all evaluations done; Tune may end it before its own close
            mark_stopped(sweep, result.metrics["trial_id"], "", status="finished")


def stopped_by(spec: SweepSpec, results: pd.DataFrame | None, sweep_end: str | None = None) -> str:
    """What stopped a trial early: the collapse rule where its last `stop_collapsed_after` results all
    covered at most one mode (what the rule checks); search.target where it reached it; else the
    scheduler (ASHA, median, HyperBand, PBT) or, where the sweep ended early, the sweep's end."""
    patience = spec.search.stop_collapsed_after
    if patience is not None and results is not None and names.MODES in results and len(results) >= patience:
        if (results[names.MODES].tail(patience) <= 1).all():
            return f"the collapse rule (modes <= 1 for {patience} evaluations)"
    if spec.search.target is not None and results is not None and reaching_target(spec, results).any():
        return f"search.target ({spec.primary_metric} reached {spec.search.target:g})"
    if sweep_end is None:
        return f"the {spec.scheduler.name} scheduler"
    if spec.scheduler.name == "fifo":
        return f"the sweep's end ({sweep_end})"
    return f"the {spec.scheduler.name} scheduler or the sweep's end ({sweep_end})"


def reaching_target(spec: SweepSpec, results: pd.DataFrame) -> pd.Series:
    """Which of a trial's results reached search.target."""
    if spec.primary_metric not in results:
        return pd.Series(False, index=results.index)
    values = results[spec.primary_metric]
    return values <= spec.search.target if spec.primary_mode == "min" else values >= spec.search.target


def sweep_end_reason(spec: SweepSpec, results: tune.ResultGrid, elapsed_s: float) -> str | None:
    """Why the sweep ended before every trial ran (search.target, search.time_budget_s), or None."""
    if spec.search.target is not None:
        reached = [(frame.loc[reaching_target(spec, frame), "timestamp"].min(), result)
                   for result in results if (frame := result.metrics_dataframe) is not None
                   and reaching_target(spec, frame).any()]
        if reached:
            _, first = min(reached, key=lambda pair: pair[0])
            who = trial_name(first.config[PARAMS_KEY]) or "the fixed trial"
            return f"{who} reached {spec.primary_metric} {spec.search.target:g} (search.target)"
    budget = spec.search.time_budget_s
    if budget is not None and elapsed_s >= budget:
        return f"its time budget of {budget:g} s ran out (search.time_budget_s)"
    return None
