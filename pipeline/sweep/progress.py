"""What a sweep prints while it runs: a status line at most every HEARTBEAT_S seconds and, at its end, a
summary of a few lines whatever the number of trials.

    tune.RunConfig(verbose=0, callbacks=[ConsoleProgress("fid", "min", ["optim.d.lr"], results_dir)])

Tune's own reporter ends a sweep with a table of every trial (1,000 rows for 1,000 trials) and prints
each result as a box; the driver silences it (verbose=0) and prints this instead. Every trial's results
stay where they were: its MLflow run, the report's leaderboard, and Tune's folder (one result.json and
error file a trial).
"""

from __future__ import annotations

import math
import time
from collections import Counter

from ray import tune
from ray.tune.experiment import Trial

from pipeline.tracking.keys import PARAMS_KEY

HEARTBEAT_S = 30.0  # a line per half minute: alive on the screen, a few hundred lines a day in a log


class ConsoleProgress(tune.Callback):
    def __init__(self, metric: str, mode: str, swept: list[str], results_dir: str, heartbeat_s: float = HEARTBEAT_S):
        self.metric, self.mode, self.swept, self.heartbeat_s = metric, mode, swept, heartbeat_s
        self.results_dir = results_dir  # Tune's folder of the sweep: each trial's result.json and error.txt
        self.best: dict[str, float] = {}  # trial id -> its best value of the metric so far (the ranking's rule)
        self.started = self.last_line = time.monotonic()

    def better(self, value: float, than: float) -> bool:
        return value < than if self.mode == "min" else value > than

    def on_trial_result(self, iteration: int, trials: list[Trial], trial: Trial, result: dict, **info) -> None:
        value = result.get(self.metric)
        if isinstance(value, (int, float)) and math.isfinite(value):
            known = self.best.get(trial.trial_id)
            if known is None or self.better(value, known):
                self.best[trial.trial_id] = float(value)

    def on_step_end(self, iteration: int, trials: list[Trial], **info) -> None:
        if time.monotonic() - self.last_line >= self.heartbeat_s:
            self.last_line = time.monotonic()
            print(f"[{self.elapsed()}] {self.counts(trials)}; {self.leader(trials, 'best so far')}", flush=True)

    def on_experiment_end(self, trials: list[Trial], **info) -> None:
        errored = [trial for trial in trials if trial.status == Trial.ERROR]
        print(f"\n[{self.elapsed()}] {len(trials)} trials: {self.counts(trials)}", flush=True)
        print(f"  {self.leader(trials, 'best')}", flush=True)
        if errored:
            shown = ", ".join(trial.trial_id for trial in errored[:3])
            more = f" and {len(errored) - 3} more" if len(errored) > 3 else ""
            print(f"  errored: {shown}{more} (each one's error.txt is under {self.results_dir})", flush=True)

    def elapsed(self) -> str:
        minutes, seconds = divmod(int(time.monotonic() - self.started), 60)
        return f"{minutes}m{seconds:02d}s"

    @staticmethod
    def counts(trials: list[Trial]) -> str:
        states = Counter(trial.status for trial in trials)
        return ", ".join(f"{count} {state.lower()}" for state, count in sorted(states.items()))

    def leader(self, trials: list[Trial], label: str) -> str:
        by_id = {trial.trial_id: trial for trial in trials}
        reported = [(value, trial_id) for trial_id, value in self.best.items() if trial_id in by_id]
        if not reported:
            return f"no trial has reported {self.metric} yet"
        value, trial_id = min(reported) if self.mode == "min" else max(reported)
        params = by_id[trial_id].config.get(PARAMS_KEY, {})  # absent where nothing is swept
        shown = ", ".join(f"{key}={format_value(params[key])}" for key in self.swept if key in params)
        return f"{label} {self.metric} {value:.4g}: trial {trial_id}" + (f" ({shown})" if shown else "")


def format_value(value: object) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
