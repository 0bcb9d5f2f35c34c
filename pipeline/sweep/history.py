"""What a Tune run knows of the trials before it: an extended sweep's own (`--extend`) and a warm
start's (`search.warm_start`), as points of the spec's space with their results.

    history = History.from_trials(spec, logged_trials(client, parent), extension=1)
    history.points          # [{"optim.d.lr": 0.0003}, ...], each inside the spec's space
    history.skipped         # earlier trials outside it, or without the spec's metrics
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from optuna.trial import FrozenTrial, create_trial

from pipeline.spec.config import ParameterSpec, SweepSpec
from pipeline.tracking.history import LoggedTrial
from pipeline.tracking.keys import PARAMS_KEY


@dataclass(frozen=True)
class History:
    points: tuple[dict[str, Any], ...] = ()  # swept values of each earlier trial, parsed as the spec's
    results: tuple[dict[str, float], ...] = ()  # its metrics, in the same order
    extension: int = 0  # > 0: this Tune run is the sweep's n-th extension
    skipped: int = 0  # earlier trials left out: outside the space, or without every objective's value
    seen: frozenset[tuple] = field(default_factory=frozenset)  # every earlier point, in or out of the space

    @classmethod
    def from_trials(cls, spec: SweepSpec, trials: list[LoggedTrial], extension: int = 0) -> History:
        points, results = [], []
        for trial in trials:
            point = {key: value for key, value in trial.values.items() if key in spec.parameters}
            values = [trial.metrics.get(metric) for metric, _ in spec.objectives]
            if inside(point, spec.parameters) and all(v is not None and math.isfinite(v) for v in values):
                points.append(point)
                results.append(trial.metrics)
        seen = frozenset(point_key(trial.values) for trial in trials)
        return cls(tuple(points), tuple(results), extension, len(trials) - len(points), seen)

    def joined(self, other: History) -> History:
        """Both histories' trials; this one's extension."""
        return History(self.points + other.points, self.results + other.results, self.extension,
                       self.skipped + other.skipped, self.seen | other.seen)

    def ran(self, point: dict[str, Any]) -> bool:
        """Whether an earlier trial trained exactly these swept values."""
        return point_key(point) in self.seen


def point_key(values: dict[str, Any]) -> str:
    """Typed values in a comparable form: the JSON each trial's run logs them as (VALUES_TAG)."""
    return json.dumps(values, sort_keys=True)


def inside(point: dict[str, Any], parameters: dict[str, ParameterSpec]) -> bool:
    """Whether a point fits `parameters`: each of its keys within its values and only where its
    condition holds. A swept key the point lacks is fine (an earlier sweep that did not sweep it:
    the two share the other keys), and Optuna models each key from the trials that have it."""
    return all(param.sampler.contains(point[key]) and param.applies(point)
               for key, param in parameters.items() if key in point)


def optuna_trials(history: History, spec: SweepSpec) -> list[FrozenTrial]:
    """The earlier trials as completed Optuna trials of this spec's study (names `params/<key>`)."""
    trials = []
    for point, results in zip(history.points, history.results, strict=True):
        values = [results[metric] for metric, _ in spec.objectives]
        trials.append(create_trial(
            params={f"{PARAMS_KEY}/{key}": value for key, value in point.items()},
            distributions={f"{PARAMS_KEY}/{key}": spec.parameters[key].sampler.optuna_distribution() for key in point},
            values=values,
        ))
    return trials


NO_HISTORY = History()  # a new sweep's: nothing ran before it
