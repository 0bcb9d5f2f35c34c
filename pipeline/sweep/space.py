"""A SweepSpec as Ray Tune sees it: the parameter space, the search algorithm, the scheduler and
the stopping rule.

The sampled values travel as `config["params"]`, a flat dict of dotted trial keys; the trial puts
them into the spec's fixed trial config (`config.with_values`). One Tune iteration is one evaluation.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from optuna.trial import FrozenTrial
from ray import tune
from ray.tune.schedulers import (
    ASHAScheduler,
    FIFOScheduler,
    HyperBandForBOHB,
    MedianStoppingRule,
    PopulationBasedTraining,
    TrialScheduler,
)
from ray.tune.schedulers.pb2 import PB2
from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter, Searcher
from ray.tune.search.optuna import OptunaSearch
from ray.tune.stopper import CombinedStopper

from pipeline.spec import metric_names as names
from pipeline.spec.conditions import condition_order, draw_points, expand_grid, is_conditional
from pipeline.spec.config import ParameterSpec, SweepSpec, flatten
from pipeline.sweep.history import History, optuna_trials
from pipeline.tracking.keys import PARAMS_KEY, REPLICATE_KEY, trial_name

NO_HISTORY = History()  # a new sweep's: nothing ran before it


def to_tune_domain(param: ParameterSpec) -> Any:
    kind, values = param.kind, param.values
    if kind == "grid":
        return tune.grid_search(list(values))
    if kind == "choice":
        return tune.choice(list(values))
    if kind == "uniform":
        return tune.uniform(*values)
    if kind == "log_uniform":
        return tune.loguniform(*values)
    return tune.randint(values[0], values[1] + 1)  # the file's [low, high] is inclusive, Tune's high is not


def param_space(spec: SweepSpec, history: History = NO_HISTORY) -> dict[str, Any]:
    # PBT perturbs only keys present in a trial's config: a mutated key that is not swept starts
    # from the trial's fixed value.
    if spec.search.race is not None and spec.search.algorithm != "optuna":
        return {}  # the race's searcher hands each trial its point and seed (sweep/racing.py)
    fixed = flatten(spec.trial.model_dump())
    unswept = {key: fixed[key] for key in spec.scheduler.mutations if key not in spec.parameters}
    seeds = spec.search.seeds
    # grid and random: the seeds as a grid; optuna draws one point at a time, and `Replicates` repeats it
    # (a race's searcher gives each trial its seed)
    replicates = tune.grid_search(list(range(seeds))) if spec.search.race is None and seeds > 1 \
        and spec.search.algorithm != "optuna" else 0
    if not explicit_points(spec, history):
        space = {key: to_tune_domain(param) for key, param in spec.parameters.items()}
        return {PARAMS_KEY: space | unswept, REPLICATE_KEY: replicates}
    if spec.search.algorithm == "optuna":  # the searcher's define-by-run space draws every point
        return {REPLICATE_KEY: replicates}
    # grid and random: the whole points, each without the keys that do not apply to it
    return {PARAMS_KEY: tune.grid_search([point | unswept for point in listed_points(spec, history)]),
            REPLICATE_KEY: replicates}


def explicit_points(spec: SweepSpec, history: History) -> bool:
    """Whether the points are worked out here rather than by Tune: a conditional space, or an
    extension (a grid's points not run yet; random draws the sweep has not made)."""
    return is_conditional(spec.parameters) or (history.extension > 0 and spec.search.algorithm != "optuna")


def listed_points(spec: SweepSpec, history: History = NO_HISTORY) -> list[dict[str, Any]]:
    """The points of grid search (every one, or those no earlier trial ran) and of random search
    (search.num_samples drawn with search.seed, and the extension's number); Tune runs them as a grid."""
    if spec.search.algorithm == "grid":
        return [point for point in expand_grid(spec.parameters) if not history.ran(point)]
    seed = spec.search.seed
    if seed is not None and history.extension:  # each extension its own seeded stream, not the first draws again
        seed = [seed, history.extension]
    return draw_points(spec.parameters, spec.search.num_samples, seed)


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
                point[key] = suggest(trial, f"{PARAMS_KEY}/{key}", param)


def suggest(trial: Any, name: str, param: ParameterSpec) -> Any:
    kind, values = param.kind, param.values
    if kind == "choice":
        return trial.suggest_categorical(name, list(values))
    if kind in ("uniform", "log_uniform"):
        return trial.suggest_float(name, values[0], values[1], log=kind == "log_uniform")
    return trial.suggest_int(name, values[0], values[1])  # randint: inclusive, as Optuna's


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


def tune_num_samples(spec: SweepSpec, history: History = NO_HISTORY) -> int:
    """Tune's num_samples: grid and random multiply it by their grid (the seeds among it); optuna's
    `Replicates` asks one trial of Tune for each seed of each configuration. Random points worked out
    here (`listed_points`) are drawn up front, and run once each."""
    if spec.search.race is not None:  # an upper bound: the race's searcher says when it is done
        configurations = (spec.search.num_samples if spec.search.algorithm == "optuna"
                          else len(listed_points(spec, history)))
        return min(configurations * spec.search.race.max, spec.search.max_trials or math.inf)
    if spec.search.algorithm == "random" and explicit_points(spec, history):
        return 1
    return spec.search.num_samples * (spec.search.seeds if spec.search.algorithm == "optuna" else 1)


def evaluations(spec: SweepSpec) -> int:
    """Tune iterations a trial reports: one per evaluation, the last step always evaluated."""
    train = spec.trial.train
    return -(-train.steps // train.eval_every)


def scheduler(spec: SweepSpec) -> TrialScheduler:
    config, iterations = spec.scheduler, "training_iteration"
    if config.name == "asha":
        return ASHAScheduler(time_attr=iterations, max_t=evaluations(spec), grace_period=config.grace_period,
                             reduction_factor=config.reduction_factor)
    if config.name == "median":
        return MedianStoppingRule(time_attr=iterations, grace_period=config.grace_period,
                                  min_samples_required=config.min_samples)
    if config.name == "hyperband":
        return HyperBandForBOHB(time_attr=iterations, max_t=evaluations(spec), reduction_factor=config.reduction_factor)
    if config.name == "pbt":
        return PopulationBasedTraining(
            time_attr=iterations,
            perturbation_interval=config.perturbation_interval,
            hyperparam_mutations={PARAMS_KEY: {key: to_tune_domain(p) for key, p in config.mutations.items()}},
            quantile_fraction=config.quantile_fraction,
            resample_probability=config.resample_probability,
        )
    if config.name == "pb2":
        return PB2(
            time_attr=iterations,
            perturbation_interval=config.perturbation_interval,
            hyperparam_bounds={PARAMS_KEY: {key: list(p.values) for key, p in config.mutations.items()}},
            quantile_fraction=config.quantile_fraction,
        )
    return FIFOScheduler()


class CollapseStopper(tune.Stopper):
    """Stops a trial whose `modes` has stayed at 1 or less for `patience` evaluations in a row."""

    def __init__(self, patience: int):
        self.patience = patience
        self.collapsed_for: dict[str, int] = {}

    def __call__(self, trial_id: str, result: dict) -> bool:
        collapsed = result.get(names.MODES, float("inf")) <= 1  # data without modes never collapses here
        self.collapsed_for[trial_id] = self.collapsed_for.get(trial_id, 0) + 1 if collapsed else 0
        return self.collapsed_for[trial_id] >= self.patience

    def stop_all(self) -> bool:
        return False


class TargetStopper(tune.Stopper):
    """Ends the whole sweep once a trial's `metric` reaches `target` (at most for min, at least for max);
    `reached` keeps which trial and value did it, for the sweep's end reason."""

    def __init__(self, metric: str, mode: str, target: float):
        self.metric, self.mode, self.target = metric, mode, target
        self.reached: tuple[str, float] | None = None

    def __call__(self, trial_id: str, result: dict) -> bool:
        value = result.get(self.metric)
        if value is not None and self.reached is None and (value <= self.target if self.mode == "min"
                                                           else value >= self.target):
            self.reached = (trial_id, float(value))
        return self.reached is not None and self.reached[0] == trial_id

    def stop_all(self) -> bool:
        return self.reached is not None


def stoppers(spec: SweepSpec) -> list[tune.Stopper]:
    """The collapse rule and the target, those the spec sets."""
    found: list[tune.Stopper] = []
    if spec.search.stop_collapsed_after is not None:
        found.append(CollapseStopper(spec.search.stop_collapsed_after))
    if spec.search.target is not None:
        found.append(TargetStopper(spec.primary_metric, spec.primary_mode, spec.search.target))
    return found


def combined(found: list[tune.Stopper]) -> tune.Stopper | None:
    if not found:
        return None
    return found[0] if len(found) == 1 else CombinedStopper(*found)


def grid_points(spec: SweepSpec) -> list[dict[str, Any]]:
    """Every configuration of a grid search, in order, as {dotted key: value}; repeated num_samples
    times (each trained search.seeds times)."""
    return expand_grid(spec.parameters) * spec.search.num_samples


def condition_text(param: ParameterSpec) -> str:
    if not param.when:
        return ""
    return ", only when " + " and ".join(f"{key} in {values}" for key, values in param.when.items())


def describe_space(spec: SweepSpec) -> list[str]:
    """Human-readable lines: the resolved trials of a grid, or each parameter's distribution."""
    race = spec.search.race
    drawn_up_front = spec.search.algorithm == "random" and (is_conditional(spec.parameters) or race is not None)
    if spec.search.algorithm == "grid" or drawn_up_front:
        points = grid_points(spec) if spec.search.algorithm == "grid" else listed_points(spec)
        how = "grid search" if spec.search.algorithm == "grid" else f"random search, seed {spec.search.seed}"
        most = min(len(points) * race.max, spec.search.max_trials or math.inf) if race is not None else 0
        count = (f"{len(points) * race.min} to {most}" if race is not None
                 else f"{len(points) * spec.search.seeds}")
        lines = [f"{count} trials ({how}):"]
        lines += [f"  {i + 1:3d}. {trial_name(point) or '(the fixed trial)'}" for i, point in enumerate(points)]
    else:
        how = ("random search" if spec.search.algorithm == "random"
               else f"Optuna {SAMPLER_NAMES[spec.search.sampler]} after {spec.search.startup_trials} random draws")
        count = (f"{spec.search.num_samples} configurations, each raced over seeds," if race is not None
                 else f"{spec.search.num_samples * spec.search.seeds} trials")
        lines = [f"{count} drawn by {how} (seed {spec.search.seed}) from:"]
        lines += [f"  {key}: {param.kind} {list(param.values)}{condition_text(param)}"
                  for key, param in spec.parameters.items()]
    for key, param in spec.scheduler.mutations.items():
        lines.append(f"  {spec.scheduler.name} mutates {key}: {param.kind} {list(param.values)}")
    if spec.search.time_budget_s is not None:
        lines.append(f"  the sweep ends after {spec.search.time_budget_s:g} s (search.time_budget_s)")
    if spec.search.target is not None:
        reach = "<=" if spec.primary_mode == "min" else ">="
        lines.append(f"  the sweep ends once a trial reaches {spec.primary_metric} {reach} {spec.search.target:g} "
                     "(search.target)")
    if race is not None:
        seed = spec.trial.train.seed
        how = ("a challenger races the incumbent on its seeds (intensification)" if spec.search.algorithm == "optuna"
               else "a race")
        lines.append(f"  {how}: each configuration starts with {race.min} seeds (train.seed {seed}.."
                     f"{seed + race.min - 1}); after each round those shown worse than the best stop, the rest get "
                     f"one more seed, up to {race.max}"
                     + (f", at most {spec.search.max_trials} trials in all" if spec.search.max_trials else ""))
    elif spec.search.seeds > 1:
        seed = spec.trial.train.seed
        lines.append(f"  each configuration trained with {spec.search.seeds} seeds (train.seed {seed}.."
                     f"{seed + spec.search.seeds - 1}), each seed its own trial")
    return lines
