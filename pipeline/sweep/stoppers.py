"""What stops a trial or the whole sweep besides its scheduler: the collapse rule and search.target.

    stopper = combined(stoppers(spec))   # RunConfig(stop=...) in the driver
"""

from __future__ import annotations

from ray import tune
from ray.tune.stopper import CombinedStopper

from pipeline.spec import metric_names as names
from pipeline.spec.config import SweepSpec


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
