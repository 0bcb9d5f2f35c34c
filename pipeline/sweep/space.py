"""A SweepSpec as Ray Tune sees it: the parameter space, the number of trials, the scheduler and
the dry run's description (the searchers are in searchers.py, the stoppers in stoppers.py).

    python -m pipeline.sweep search_spaces/dropout.yaml --dry-run    # describe_space's lines

The sampled values travel as `config["params"]`, a flat dict of dotted trial keys; the trial puts
them into the spec's fixed trial config (`config.with_values`). One Tune iteration is one evaluation.
"""

from __future__ import annotations

import math
from typing import Any

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

from pipeline.spec.conditions import draw_points, expand_grid, is_conditional
from pipeline.spec.config import ParameterSpec, SweepSpec, flatten
from pipeline.sweep.history import NO_HISTORY, History
from pipeline.sweep.searchers import SAMPLER_NAMES
from pipeline.tracking.keys import PARAMS_KEY, REPLICATE_KEY, trial_name


def to_tune_domain(param: ParameterSpec) -> Any:
    function, arguments = param.sampler.tune_domain()
    return getattr(tune, function)(*arguments)


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
