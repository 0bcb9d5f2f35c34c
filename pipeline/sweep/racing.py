"""search.seeds {min, max} as Ray Tune's searcher: the race's rounds (pipeline/stats/race.py) decide
which configuration runs which seed next, and each round's decision is written on the parent run.

    python -m pipeline.sweep search_spaces/dropout.yaml      # its search.seeds is a race

A trial's value in the race is the best value of the (first) metric over its run, as the report ranks
it; a trial that diverged or errored counts as an unusable seed.
"""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from ray.tune.search import ConcurrencyLimiter, Searcher

from pipeline.spec.config import SweepSpec
from pipeline.stats.intensify import Intensification
from pipeline.stats.race import Race, Round
from pipeline.sweep.history import History
from pipeline.sweep.searchers import optuna_searcher
from pipeline.sweep.trial import DIVERGED_KEY, config_id
from pipeline.tracking.keys import PARAMS_KEY, REPLICATE_KEY, trial_name

RoundLogger = Callable[[dict], None]  # gets the race's whole record after each round (race_record)


def race_record(race: Race, points: dict[str, dict]) -> dict:
    """The race as logged on the parent run (race.json) and read by the report and the tests."""
    return {"min_seeds": race.min_seeds, "max_seeds": race.max_seeds, "mode": race.mode, "delta": race.delta,
            "max_trials": race.max_trials, "points": points, "rounds": [asdict(r) for r in race.rounds],
            "summary": race.summary()}


class SeedRacer(Searcher):
    """What both racing searchers share: which trial runs which (configuration, seed), each trial's best
    value over its run, and Tune's snapshots of their state for --resume."""

    def __init__(self, metric: str, mode: str, log_round: RoundLogger):
        super().__init__(metric=metric, mode=mode)
        self.log_round = log_round
        self.points: dict[str, dict] = {}  # configuration id -> its swept values
        self.running: dict[str, tuple[str, int]] = {}  # trial id -> (configuration, seed)
        self.best_value: dict[str, float] = {}  # trial id -> best metric value it reported so far

    def start(self, trial_id: str, config: str, seed: int) -> dict:
        self.running[trial_id] = (config, seed)
        return {PARAMS_KEY: copy.deepcopy(self.points[config]), REPLICATE_KEY: seed}

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        value = result.get(self.metric)
        if value is None or result.get(DIVERGED_KEY):
            return
        best = self.best_value.get(trial_id)
        if best is None or (value < best if self.mode == "min" else value > best):
            self.best_value[trial_id] = float(value)

    def ended_seed(self, trial_id: str, result: dict | None, error: bool) -> tuple[str, int, float | None] | None:
        """(configuration, seed, its value in the race: None if it diverged or errored) of a trial that
        ended, or None for a trial this searcher did not start."""
        if trial_id not in self.running:
            return None
        if result is not None and not error:
            self.on_trial_result(trial_id, result)
        config, seed = self.running.pop(trial_id)
        usable = not error and result is not None and not result.get(DIVERGED_KEY)
        return config, seed, self.best_value.pop(trial_id, None) if usable else None

    def name(self, config: str) -> str:
        return trial_name(self.points[config]) if config in self.points else config

    # Tune's experiment snapshots (for --resume) save a searcher's state
    def get_state(self) -> dict:
        return {key: copy.deepcopy(value) for key, value in self.__dict__.items() if key not in ("log_round", "inner")}

    def set_state(self, state: dict) -> None:
        self.__dict__.update(state)

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as file:
            pickle.dump(self.get_state(), file)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as file:
            self.set_state(pickle.load(file))


class RaceSearch(SeedRacer):
    """Suggests (configuration, seed) pairs of the race's current round; FINISHED once the race ends."""

    def __init__(self, points: list[dict[str, Any]], race: Race, metric: str, log_round: RoundLogger):
        super().__init__(metric, race.mode, log_round)
        self.points = {config_id(point): point for point in points}
        self.race = race

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        return True  # the race's own points and metric; Tune's param space is empty for it

    def suggest(self, trial_id: str) -> dict | str | None:
        if self.race.ended:
            return Searcher.FINISHED
        started = set(self.running.values())
        waiting = [pair for pair in self.race.to_run() if pair not in started]
        if not waiting:
            return None  # the round's last trials are still running: ask again later
        return self.start(trial_id, *waiting[0])

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        ended = self.ended_seed(trial_id, result, error)
        if ended is None:
            return
        self.race.record(*ended)
        if self.race.round_complete():
            decision: Round = self.race.close_round()
            dropped = ", ".join(f"{self.name(c)} ({why.split(':')[0]})" for c, why in decision.dropped.items())
            print(f"Race round {decision.number} ({decision.seeds} seeds): best {self.name(decision.best)}, "
                  f"dropped {dropped or 'none'}, "
                  f"{len(decision.kept)} go on" + (f"; the race ends: {decision.ended}" if decision.ended else ""),
                  flush=True)
            self.log_round(race_record(self.race, self.points))

    def end(self, reason: str) -> dict:
        """The race's record once Tune stopped (`reason` where it stopped before the race decided)."""
        self.race.stop(reason)
        return race_record(self.race, self.points)


class IntensifySearch(SeedRacer):
    """search.seeds {min, max} with optuna: each configuration Optuna proposes races the incumbent on its
    seeds (`pipeline.stats.intensify`); Optuna is told a configuration's mean once it is decided."""

    def __init__(self, inner: Searcher, race: Intensification, configurations: int, metric: str,
                 log_round: RoundLogger):
        super().__init__(metric, race.mode, log_round)
        self.inner, self.race, self.configurations = inner, race, configurations
        self.inner_id: dict[str, str] = {}  # configuration -> the trial id Optuna knows it by
        self.queue: list[tuple[str, int]] = []
        self.told: set[str] = set()

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        return self.inner.set_search_properties(metric, mode, config, **spec)

    def suggest(self, trial_id: str) -> dict | str | None:
        if not self.queue and len(self.points) < self.configurations and self.race.can_start(
                self.race.min_seeds + len(self.running)):
            drawn = self.inner.suggest(f"configuration-{len(self.points)}")
            if not isinstance(drawn, dict):
                return drawn
            point = drawn[PARAMS_KEY]
            config = f"{config_id(point)}-{len(self.points)}" if config_id(point) in self.points else config_id(point)
            self.points[config], self.inner_id[config] = point, f"configuration-{len(self.points)}"
            self.race.add(config)
            self.queue += [(config, seed) for seed in self.race.next_seeds(config)]
        if self.queue:
            return self.start(trial_id, *self.queue.pop(0))
        if not self.running:  # nothing queued, nothing running, nothing more to draw: the race is over
            return Searcher.FINISHED
        return None

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        ended = self.ended_seed(trial_id, result, error)
        if ended is None:
            return
        self.race.record(*ended)
        config, incumbent = ended[0], self.race.incumbent
        decision = self.race.settle(config)
        if config == incumbent or decision is None:
            self.queue_more(config)
            return
        for loser in decision.dropped:
            self.tell(loser)
        for kept in (self.race.incumbent, config):
            self.queue_more(kept)
        print(f"Intensification {decision.number}: incumbent {self.name(self.race.incumbent)}"
              + "".join(f"; {self.name(c)} {why.split(':')[0]}" for c, why in decision.dropped.items()), flush=True)
        self.log_round(self.record())

    def queue_more(self, config: str | None) -> None:
        """The seeds `config` was asked to run and has not started, if the trial budget has room."""
        if config is None or config in self.race.decided:
            return
        started = set(self.running.values()) | set(self.queue)
        for seed in self.race.next_seeds(config):
            if (config, seed) not in started and self.race.can_start(1 + len(self.running) + len(self.queue)):
                self.queue.append((config, seed))

    def tell(self, config: str) -> None:
        """Optuna learns a decided configuration's mean over its seeds (an error if none was usable)."""
        if config in self.told:
            return
        self.told.add(config)
        usable = self.race.usable(config)
        mean = sum(usable.values()) / len(usable) if usable else None
        self.inner.on_trial_complete(self.inner_id[config], None if mean is None else {self.metric: mean},
                                     error=mean is None)

    def record(self) -> dict:
        return {"min_seeds": self.race.min_seeds, "max_seeds": self.race.max_seeds, "mode": self.race.mode,
                "delta": None, "max_trials": self.race.max_trials, "points": self.points, "intensification": True,
                "rounds": self.race.rounds_as_dicts(), "summary": self.race.summary(self.configurations)}

    def end(self, reason: str) -> dict:
        """The record once Tune stopped; Optuna is told of every configuration not yet decided."""
        for config in self.points:
            self.tell(config)
        self.race.stopped = self.race.stopped or reason
        return self.record()

    # the Optuna study's own state beside this searcher's, for --resume
    def save(self, checkpoint_path: str) -> None:
        super().save(checkpoint_path)
        self.inner.save(f"{checkpoint_path}.optuna")

    def restore(self, checkpoint_path: str) -> None:
        super().restore(checkpoint_path)
        self.inner.restore(f"{checkpoint_path}.optuna")


def race_searcher(spec: SweepSpec, points: list[dict[str, Any]], max_concurrent: int, log_round: RoundLogger,
                  history: History) -> ConcurrencyLimiter:
    """The race over `points` (the grid's, or random search's draws), or for optuna the intensification
    of the configurations it proposes (`history`: the trials its study starts with); at most
    `max_concurrent` trials at once."""
    seeds = spec.search.race
    if spec.search.algorithm == "optuna":
        race = Intensification(seeds.min, seeds.max, spec.primary_mode, spec.search.max_trials)
        searcher = IntensifySearch(optuna_searcher(spec, history), race, spec.search.num_samples, spec.primary_metric,
                                   log_round)
        return ConcurrencyLimiter(searcher, max_concurrent=max_concurrent)
    configs = list(dict.fromkeys(config_id(point) for point in points))
    race = Race(configs, seeds.min, seeds.max, spec.primary_mode, spec.search.delta, spec.search.max_trials)
    return ConcurrencyLimiter(RaceSearch(points, race, spec.primary_metric, log_round), max_concurrent=max_concurrent)
