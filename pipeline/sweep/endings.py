"""How a sweep's trials and the sweep itself ended, said on their MLflow runs: what stopped a trial
early (a scheduler, the collapse rule, search.target, the sweep's end) and why the sweep ended
(every trial ran, search.target, search.time_budget_s).

    closer = RunCloser(spec, sweep)    # in RunConfig(callbacks=...): closes runs as Tune stops them
    closer.close_rest(results, sweep_end)     # after Tuner.fit: those the sweep's end stopped

The driver is the one writer of a `stopped` status (a trial's process never writes it: it cannot tell a
scheduler's stop from a stopping rule's, and Tune may end it seconds after the stop); the trial writes
finished (before Tune hears of its last result), diverged and errored (the driver only where its process
died without a word).
"""

from __future__ import annotations

import pandas as pd
from ray import tune

from pipeline.spec import metric_names as names
from pipeline.spec.config import SweepSpec
from pipeline.sweep.space import evaluations
from pipeline.sweep.trial import DIVERGED_KEY
from pipeline.tracking.keys import PARAMS_KEY, trial_name
from pipeline.tracking.location import SweepRun, with_retries
from pipeline.tracking.trial_runs import close_run, trial_run

DRIVER_RETRIES = 5  # a stop's close waits for the store as the driver's other writes do (back-off to 8 s)


class RunCloser(tune.Callback):
    """The driver's closes of trial runs still running: each trial that Tune stops before its last
    evaluation, naming what stopped it (before its first one too); each whose process died without
    closing its run.

    Tune decides a stop (stopper, then scheduler) before it calls `on_trial_result` and marks the result
    `done`, then ends the trial: so the close is written here, when the decision is known, by the one
    process that knows its cause."""

    def __init__(self, spec: SweepSpec, sweep: SweepRun):
        self.spec, self.sweep, self.planned = spec, sweep, evaluations(spec)
        self.results: dict[str, list[dict]] = {}  # per trial: what `stopped_by` reads of each result
        self.closed: set[str] = set()

    def on_trial_result(self, iteration: int, trials: list, trial: tune.experiment.Trial, result: dict,
                        **info) -> None:
        kept = (names.MODES, self.spec.primary_metric, "timestamp")
        self.results.setdefault(trial.trial_id, []).append({key: result[key] for key in kept if key in result})
        done = result.get("training_iteration", 0)
        if result.get("done") and DIVERGED_KEY not in result and done < self.planned:
            by = stopped_by(self.spec, pd.DataFrame(self.results[trial.trial_id]))
            self.close(trial.trial_id, f"stopped by {by} after {done} of {self.planned} evaluations")

    def on_trial_error(self, iteration: int, trials: list, trial: tune.experiment.Trial, **info) -> None:
        """A trial that failed for good. Its own process writes `errored` before the error reaches Tune;
        a run still running here had a process that died without a word (its node lost after its last
        restart, a killed worker), so the driver ends it, with Tune's error."""
        error = trial.get_error()
        reason = f"its process ended without closing its run; Tune: {str(error)[-2000:] if error else 'no error kept'}"
        self.close(trial.trial_id, reason, status="errored")

    def on_experiment_end(self, trials: list, **info) -> None:
        """Trials the sweep's end stopped before their first result (their run opened, no evaluation yet):
        `close_rest` only sees trials with a result, so they are closed here."""
        for trial in trials:
            if trial.status == trial.TERMINATED and not trial.last_result.get("training_iteration"):
                self.close(trial.trial_id, "stopped by the sweep's end before its first evaluation")

    def close_rest(self, results: tune.ResultGrid, sweep_end: str | None) -> None:
        """Trials the sweep's end stopped (search.target reached by another trial, the time budget): Tune
        stops them without a result to hang the decision on."""
        for result in results:
            metrics = result.metrics or {}
            done = metrics.get("training_iteration", 0)
            if result.error is None and metrics and DIVERGED_KEY not in metrics and done < self.planned:
                by = stopped_by(self.spec, result.metrics_dataframe, sweep_end)
                self.close(metrics["trial_id"], f"stopped by {by} after {done} of {self.planned} evaluations")

    def close(self, trial_id: str, reason: str, status: str = "stopped") -> None:
        """End a trial's run that is still running; one that ended already (the trial's own end, or this
        driver's, or the one a --resume took over from) stays as it is."""
        if trial_id in self.closed:
            return
        run = trial_run(self.sweep, trial_id)
        if run is None or run.info.status != "RUNNING":
            return  # stopped before its process opened a run, or ended already
        run_id, client = run.info.run_id, self.sweep.client()
        with_retries(lambda: close_run(client, run_id, status, reason), f"{status} trial's close", DRIVER_RETRIES)
        self.closed.add(trial_id)


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
