"""Conditional parameters: a swept key that applies only where other swept keys took given values.

    parameters:
      optim.d.name: {grid: [adam, sgd]}
      optim.d.momentum: {grid: [0.0, 0.9], when: {optim.d.name: sgd}}

gives three trials: adam (no momentum), sgd with 0.0, sgd with 0.9. An inactive key is absent from
the trial's values, so the fixed trial's value holds and nothing logs it as swept. These functions
check the conditions and expand or draw whole points; pipeline.sweep.space hands them to Tune.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline.spec.config import ConfigError, ParameterSpec, SweepSpec


def is_conditional(parameters: dict[str, ParameterSpec]) -> bool:
    return any(param.when for param in parameters.values())


def condition_order(parameters: dict[str, ParameterSpec]) -> list[str]:
    """The keys with each one after the keys its condition names (the file's order otherwise);
    assumes `check_conditions` found no cycle."""
    order: list[str] = []

    def visit(key: str) -> None:
        if key not in order:
            for parent in parameters[key].when or {}:
                visit(parent)
            order.append(key)

    for key in parameters:
        visit(key)
    return order


def in_file_order(point: dict[str, Any], parameters: dict[str, ParameterSpec]) -> dict[str, Any]:
    return {key: point[key] for key in parameters if key in point}


def expand_grid(parameters: dict[str, ParameterSpec]) -> list[dict[str, Any]]:
    """Every combination of listed values, each key only where it applies; the first key varies slowest."""
    points: list[dict[str, Any]] = [{}]
    for key in condition_order(parameters):
        param = parameters[key]
        points = [point | {key: value} for point in points for value in param.values] if not param.when else [
            extended for point in points
            for extended in ([point | {key: value} for value in param.values] if param.applies(point) else [point])
        ]
    return [in_file_order(point, parameters) for point in points]


def draw_points(parameters: dict[str, ParameterSpec], count: int,
                seed: int | list[int] | None) -> list[dict[str, Any]]:
    """`count` random points, each key drawn only where it applies; the same seed, the same points."""
    rng = np.random.default_rng(seed)
    points = []
    for _ in range(count):
        point: dict[str, Any] = {}
        for key in condition_order(parameters):
            if parameters[key].applies(point):
                point[key] = parameters[key].sampler.draw(rng)
        points.append(in_file_order(point, parameters))
    return points


def check_conditions(spec: SweepSpec, source: str) -> None:
    """Each condition names another listed parameter and values it can take, no cycle, and each
    conditional key applies in at least one trial."""
    parameters = spec.parameters
    for key, param in parameters.items():
        for parent, values in (param.when or {}).items():
            where = f"parameters.{key}.when"
            if parent not in parameters:
                raise ConfigError(source, where, f"{parent} is not a swept parameter: a condition names another "
                                  "key of parameters")
            if not parameters[parent].sampler.listed:
                raise ConfigError(source, where, f"{parent} is drawn from {parameters[parent].kind}: a condition "
                                  "needs a parameter with listed values (grid or choice)")
            # some listed values may be missing (a grid narrowed by --set); none present is a mistake
            if not any(value in parameters[parent].values for value in values):
                raise ConfigError(source, f"{where}.{parent}", f"{values} not among {parent}'s values "
                                  f"{list(parameters[parent].values)}: the condition could never hold")
        if param.when and key in spec.scheduler.mutations:
            raise ConfigError(source, f"scheduler.mutations.{key}", "a mutated key must apply in every trial, "
                              "but this one has a condition")
    check_acyclic(parameters, source)
    named = condition_ancestors(parameters)
    combinations = expand_grid({key: param for key, param in parameters.items() if key in named})
    for key, param in parameters.items():
        if param.when and not any(param.applies(point) for point in combinations):
            raise ConfigError(source, f"parameters.{key}.when", "its conditions conflict: no trial can meet "
                              "them all (a key they name applies only under other values)")


def condition_ancestors(parameters: dict[str, ParameterSpec]) -> set[str]:
    """The keys some condition depends on, directly or through another condition."""
    found: set[str] = set()
    pending = [parent for param in parameters.values() for parent in param.when or {}]
    while pending:
        key = pending.pop()
        if key not in found:
            found.add(key)
            pending += list(parameters[key].when or {})
    return found


def check_acyclic(parameters: dict[str, ParameterSpec], source: str) -> None:
    def walk(key: str, path: list[str]) -> None:
        if key in path:
            cycle = " -> ".join([*path[path.index(key):], key])
            raise ConfigError(source, f"parameters.{path[0]}.when", f"a cycle of conditions: {cycle}")
        for parent in parameters[key].when or {}:
            walk(parent, [*path, key])

    for key in parameters:
        walk(key, [])
