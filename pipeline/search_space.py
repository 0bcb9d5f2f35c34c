"""A SweepSpec as Ray Tune sees it: the parameter space, the search algorithm and the scheduler.

The sampled values travel as `config["params"]`, a flat dict of dotted trial keys; the trial puts
them into the spec's fixed trial config (`config.with_values`).
"""

from __future__ import annotations

import itertools
from typing import Any

from ray import tune
from ray.tune.schedulers import FIFOScheduler, TrialScheduler
from ray.tune.search import BasicVariantGenerator, Searcher

from pipeline.config import ParameterSpec, SweepSpec

PARAMS_KEY = "params"


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


def param_space(spec: SweepSpec) -> dict[str, Any]:
    return {PARAMS_KEY: {key: to_tune_domain(param) for key, param in spec.parameters.items()}}


def search_algorithm(spec: SweepSpec) -> Searcher | BasicVariantGenerator:
    # Grid and random search both expand the space with Tune's variant generator; the seed makes
    # random draws repeatable.
    return BasicVariantGenerator(max_concurrent=spec.search.max_concurrent, random_state=spec.search.seed)


def scheduler(spec: SweepSpec) -> TrialScheduler:
    return FIFOScheduler()


def grid_points(spec: SweepSpec) -> list[dict[str, Any]]:
    """Every trial of a grid search, in order, as {dotted key: value}; repeated num_samples times."""
    keys = list(spec.parameters)
    product = itertools.product(*(spec.parameters[key].values for key in keys))
    points = [dict(zip(keys, values, strict=True)) for values in product]
    return points * spec.search.num_samples


def describe_space(spec: SweepSpec) -> list[str]:
    """Human-readable lines: the resolved trials of a grid, or each parameter's distribution."""
    if spec.search.algorithm == "grid":
        points = grid_points(spec)
        lines = [f"{len(points)} trials (grid search):"]
        lines += [f"  {i + 1:3d}. {trial_name(point) or '(the fixed trial)'}" for i, point in enumerate(points)]
        return lines
    lines = [f"{spec.search.num_samples} trials drawn by random search (seed {spec.search.seed}) from:"]
    lines += [f"  {key}: {param.kind} {list(param.values)}" for key, param in spec.parameters.items()]
    return lines


def trial_name(values: dict[str, Any]) -> str:
    """'model.dropout=0.2,optim.d.lr=0.001': names MLflow child runs and report rows."""
    return ",".join(f"{key}={format_value(value)}" for key, value in values.items())


def format_value(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
