"""The kinds of swept parameter, one type each: how a search-space file's `grid`, `choice`, `uniform`,
`log_uniform` or `randint` is checked, drawn, bounded, tested for membership, and handed to Ray Tune
and to Optuna. Every other module asks the parameter's kind instead of switching on its name.

    from pipeline.spec.kinds import KINDS
    KINDS["log_uniform"]((1e-4, 3e-3)).draw(numpy.random.default_rng(0))

Ray is not imported here (the spec layer runs without it): a kind names Tune's sampling function
(`tune_domain`). Optuna is imported where its distribution is asked for.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np


def optuna_distributions() -> Any:
    """`optuna.distributions`, imported when a searcher first asks: it takes as long to import as the
    whole spec layer, which loading a spec does not need."""
    from optuna import distributions

    return distributions


@dataclass(frozen=True)
class Kind:
    """A swept parameter's kind, holding its values."""

    values: Any  # a list (grid, choice) or (low, high), as the file gives them
    name: ClassVar[str]
    listed: ClassVar[bool] = False  # its values are a list to take from, not a range
    draws_fractions: ClassVar[bool] = False  # a value may fall between whole numbers

    def check(self) -> None:
        """Raise ValueError, in the file's words, for values this kind cannot draw from."""
        if not self.values[0] < self.values[1]:
            raise ValueError(f"{self.name} needs [low, high] with low < high, got {list(self.values)}")

    def candidates(self) -> list[Any]:
        """Values that bound what the parameter can take: all of a list, the ends of a range."""
        return list(self.values)

    def draw(self, rng: np.random.Generator) -> Any:
        raise NotImplementedError

    def contains(self, value: Any) -> bool:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):  # numpy's numbers too
            return False
        return self.values[0] <= value <= self.values[1]

    def tune_domain(self) -> tuple[str, tuple[Any, ...]]:
        """The `ray.tune` function that samples this kind, and its arguments."""
        raise NotImplementedError

    def optuna_distribution(self) -> Any:
        """Optuna's distribution for this kind (what Tune's OptunaSearch samples it from)."""
        raise NotImplementedError

    def suggest(self, trial: Any, name: str) -> Any:
        """The value an Optuna trial (define-by-run) suggests for `name`."""
        raise NotImplementedError


class Listed(Kind):
    listed = True

    def check(self) -> None:
        if not self.values:
            raise ValueError(f"{self.name} needs at least one value")

    def draw(self, rng: np.random.Generator) -> Any:
        return self.values[int(rng.integers(len(self.values)))]

    def contains(self, value: Any) -> bool:
        return value in self.values

    def optuna_distribution(self) -> Any:
        return optuna_distributions().CategoricalDistribution(list(self.values))

    def suggest(self, trial: Any, name: str) -> Any:
        return trial.suggest_categorical(name, list(self.values))


class Grid(Listed):
    name = "grid"  # every value, in every combination with the other grid keys

    def tune_domain(self) -> tuple[str, tuple[Any, ...]]:
        return "grid_search", (list(self.values),)


class Choice(Listed):
    name = "choice"  # one value at random per trial

    def tune_domain(self) -> tuple[str, tuple[Any, ...]]:
        return "choice", (list(self.values),)


class Uniform(Kind):
    name = "uniform"
    draws_fractions = True

    def draw(self, rng: np.random.Generator) -> float:
        return float(rng.uniform(*self.values))

    def tune_domain(self) -> tuple[str, tuple[Any, ...]]:
        return "uniform", tuple(self.values)

    def optuna_distribution(self) -> Any:
        return optuna_distributions().FloatDistribution(*self.values)

    def suggest(self, trial: Any, name: str) -> float:
        return trial.suggest_float(name, *self.values)


class LogUniform(Uniform):
    name = "log_uniform"  # uniform in the logarithm: as often between 1e-4 and 1e-3 as between 1e-3 and 1e-2

    def check(self) -> None:
        super().check()
        if self.values[0] <= 0:
            raise ValueError(f"log_uniform needs a positive low bound, got {self.values[0]}")

    def draw(self, rng: np.random.Generator) -> float:
        return float(math.exp(rng.uniform(math.log(self.values[0]), math.log(self.values[1]))))

    def tune_domain(self) -> tuple[str, tuple[Any, ...]]:
        return "loguniform", tuple(self.values)

    def optuna_distribution(self) -> Any:
        return optuna_distributions().FloatDistribution(*self.values, log=True)

    def suggest(self, trial: Any, name: str) -> float:
        return trial.suggest_float(name, *self.values, log=True)


class RandInt(Kind):
    name = "randint"  # whole numbers in [low, high], both ends included (as Optuna's; Tune's high is not)

    def draw(self, rng: np.random.Generator) -> int:
        return int(rng.integers(self.values[0], self.values[1] + 1))

    def contains(self, value: Any) -> bool:
        return super().contains(value) and float(value).is_integer()

    def tune_domain(self) -> tuple[str, tuple[Any, ...]]:
        return "randint", (self.values[0], self.values[1] + 1)

    def optuna_distribution(self) -> Any:
        return optuna_distributions().IntDistribution(*self.values)

    def suggest(self, trial: Any, name: str) -> int:
        return trial.suggest_int(name, *self.values)


KINDS: dict[str, type[Kind]] = {kind.name: kind for kind in (Grid, Choice, Uniform, LogUniform, RandInt)}
