"""The searchers a sweep's trials come from, as Ray Tune sees them: Optuna's (with its sampler, an
earlier study's trials, several objectives, a define-by-run conditional space), the seed replicates of
each drawn configuration, and the variant generator of grid and random search.

    searcher = search_algorithm(load_spec("search_spaces/learning_rate.yaml", ["search.seeds=1",
                                                                          "search.max_trials=null"]))
"""

from __future__ import annotations

import copy
from typing import Any

from optuna.trial import FrozenTrial
from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter, Searcher
from ray.tune.search.optuna import OptunaSearch

from pipeline.spec.conditions import condition_order, is_conditional
from pipeline.spec.config import ParameterSpec, SweepSpec
from pipeline.sweep.history import NO_HISTORY, History, optuna_trials
from pipeline.tracking.keys import PARAMS_KEY, REPLICATE_KEY


class DefineByRun:
    """A conditional space for Optuna: each trial suggests the keys in condition order, a key only
    where its condition holds (Optuna's define-by-run). Names are `params/<dotted key>`, which Tune's
    OptunaSearch unflattens into the trial's config["params"]."""

    def __init__(self, parameters: dict[str, ParameterSpec]):
        self.parameters = parameters

    def __call__(self, trial: Any) -> None:
        point: dict[str, Any] = {}
        for key in condition_order(self.parameters):
            param = self.parameters[key]
            if param.applies(point):
                point[key] = param.sampler.suggest(trial, f"{PARAMS_KEY}/{key}")


class Replicates(Searcher):
    """Each configuration the wrapped searcher suggests, trained with `seeds` seeds: `seeds` trials in a
    row with replicates 0..seeds-1. The searcher learns of a configuration once, when its last replicate
    ends, with the mean of the replicates' value of each metric (a crashed replicate left out; all
    crashed: an error)."""

    def __init__(self, searcher: Searcher, seeds: int, metrics: tuple[str, ...], mode: str):
        super().__init__(metric=metrics[0], mode=mode)
        self.searcher, self.seeds, self.metrics = searcher, seeds, metrics
        self.queue: list[tuple[dict, int, str]] = []  # (configuration, replicate, first trial) still to start
        self.first_of: dict[str, str] = {}  # trial -> the trial whose id the searcher knows its configuration by
        self.ended: dict[str, list[dict | None]] = {}  # first trial -> its replicates' last results

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec) -> bool:
        return self.searcher.set_search_properties(metric, mode, config, **spec)

    def suggest(self, trial_id: str) -> dict | str | None:
        if not self.queue:
            config = self.searcher.suggest(trial_id)
            if not isinstance(config, dict):  # None (ask later) or Searcher.FINISHED
                return config
            self.ended[trial_id] = []
            self.queue = [(config, replicate, trial_id) for replicate in range(self.seeds)]
        config, replicate, first = self.queue.pop(0)
        self.first_of[trial_id] = first
        return copy.deepcopy(config) | {REPLICATE_KEY: replicate}

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        first = self.first_of.pop(trial_id)
        results = self.ended[first]
        results.append(None if error else result)
        if len(results) < self.seeds:
            return
        del self.ended[first]
        reported = [r for r in results if r is not None and all(m in r for m in self.metrics)]
        if not reported:
            self.searcher.on_trial_complete(first, None, error=True)
            return
        means = {m: sum(r[m] for r in reported) / len(reported) for m in self.metrics}
        self.searcher.on_trial_complete(first, reported[-1] | means)

    # Tune's experiment snapshots save a wrapper's own state and its wrapped searcher's, as for ConcurrencyLimiter
    def get_state(self) -> dict:
        return copy.deepcopy({key: value for key, value in self.__dict__.items() if key != "searcher"})

    def set_state(self, state: dict) -> None:
        self.__dict__.update(state)

    def save(self, checkpoint_path: str) -> None:
        self.searcher.save(checkpoint_path)

    def restore(self, checkpoint_path: str) -> None:
        self.searcher.restore(checkpoint_path)


class StudySearch(OptunaSearch):
    """Tune's OptunaSearch whose study starts with the trials that ran before (an extended sweep's,
    a warm start's), so its sampler models them before it proposes anything."""

    def __init__(self, *, earlier: list[FrozenTrial], **options: Any):
        self.earlier = earlier
        super().__init__(**options)

    def _setup_study(self, mode: str | list[str]) -> None:  # Ray's hook: where the study is created
        super()._setup_study(mode)
        for trial in self.earlier:
            self._ot_study.add_trial(trial)


class ParetoSearch(StudySearch):
    """Optuna's multi-objective search over the spec's metrics. Tune's TuneConfig names only the first
    (its progress line and schedulers need one), and it hands that one to the searcher: kept out here,
    so that Optuna still optimizes them all."""

    def __init__(self, sampler: Any, metrics: list[str], modes: list[str], space: Any = None,
                 earlier: list[FrozenTrial] = ()):
        super().__init__(earlier=list(earlier), space=space, sampler=sampler, metric=metrics, mode=modes)

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec) -> bool:
        return super().set_search_properties(None, None, config, **spec)


class PausingLimiter(ConcurrencyLimiter):
    """A ConcurrencyLimiter for HyperBand (BOHB's scheduler), which pauses trials until their bracket
    fills: a paused trial does not count as running, or the bracket would never fill. Ray's own
    TuneBOHB keeps this count itself; Optuna's searcher has no notion of a paused trial."""

    def on_pause(self, trial_id: str) -> None:
        self.live_trials.discard(trial_id)

    def on_unpause(self, trial_id: str) -> None:
        self.live_trials.add(trial_id)


SAMPLER_NAMES = {"tpe": "TPE", "cmaes": "CMA-ES", "gp": "Gaussian-process"}


def optuna_sampler(spec: SweepSpec) -> Any:
    """search.sampler as an Optuna sampler, seeded, with search.startup_trials random draws first."""
    from optuna.samplers import CmaEsSampler, GPSampler, TPESampler

    seed, startup = spec.search.seed, spec.search.startup_trials
    if spec.search.sampler == "cmaes":
        return CmaEsSampler(seed=seed, n_startup_trials=startup)
    if spec.search.sampler == "gp":
        return GPSampler(seed=seed, n_startup_trials=startup)
    # constant liar: a running trial counts as a bad result, so concurrent suggestions differ
    return TPESampler(seed=seed, n_startup_trials=startup, constant_liar=True)


def optuna_searcher(spec: SweepSpec, history: History = NO_HISTORY) -> StudySearch:
    """Tune's Optuna searcher for the spec's sampler and objectives; its study starts with `history`'s trials."""
    sampler, earlier = optuna_sampler(spec), optuna_trials(history, spec)
    metrics, modes = (list(values) for values in zip(*spec.objectives, strict=True))
    # several metrics: the sampler's multi-objective form, told every one when a trial ends
    space = DefineByRun(spec.parameters) if is_conditional(spec.parameters) else None
    if len(metrics) > 1:
        return ParetoSearch(sampler, metrics, modes, space, earlier)
    return StudySearch(earlier=earlier, space=space, sampler=sampler, metric=metrics[0] if space else None,
                       mode=modes[0] if space else None)


def search_algorithm(spec: SweepSpec, max_concurrent: int | None = None,
                     history: History = NO_HISTORY) -> Searcher | BasicVariantGenerator:
    """The spec's searcher, running at most `max_concurrent` trials at once (default search.max_concurrent);
    Optuna's study starts with `history`'s trials."""
    if max_concurrent is None:
        max_concurrent = spec.search.max_concurrent
    if spec.search.race is not None:
        raise ValueError("a race's searcher is pipeline.sweep.racing.race_searcher")
    if spec.search.algorithm == "optuna":
        searcher = optuna_searcher(spec, history)
        if spec.search.max_seeds > 1:
            searcher = Replicates(searcher, spec.search.seeds, tuple(m for m, _ in spec.objectives), spec.primary_mode)
        limiter = PausingLimiter if spec.scheduler.name == "hyperband" else ConcurrencyLimiter
        return limiter(searcher, max_concurrent=max_concurrent)
    # Grid and random search both expand the space with Tune's variant generator; the seed makes
    # random draws repeatable.
    # constant_grid_search: a random configuration stays the same over its replicates (the seed grid)
    return BasicVariantGenerator(max_concurrent=max_concurrent, random_state=spec.search.seed,
                                 constant_grid_search=True)
