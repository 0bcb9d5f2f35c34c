"""Reading a search-space file: YAML, `--set` overrides, the typed schema of `pipeline.spec.config`, and the
checks that span several keys (a swept key must exist and each of its values be valid there; what
multi-worker trials and the search algorithms accept).

    from pipeline.spec.loading import load_spec
    spec = load_spec("search_spaces/dropout.yaml", ["trial.train.steps=200"])

Every problem raises `ConfigError`, whose message names the file and the dotted key;
`python -m pipeline.sweep` turns it into exit status 2 before Ray starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel, ValidationError

from pipeline.spec.conditions import check_conditions, expand_grid
from pipeline.spec.config import (
    POPULATION_SCHEDULERS,
    SEED_COUNT,
    SEED_RACE,
    ConfigError,
    ParameterSpec,
    SweepSpec,
    TrialConfig,
    with_values,
)
from pipeline.spec.datasets import DATASET_NAMES
from pipeline.spec.overrides import OverrideError, apply_override


def load_spec(path: str | Path, overrides: list[str] = ()) -> SweepSpec:
    """Read, override and validate a search-space file; every problem is a `ConfigError`."""
    source = str(path)
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(source, "(file)", "no such file") from None
    except yaml.YAMLError as err:
        raise ConfigError(source, "(file)", f"not valid YAML: {err}") from None
    if not isinstance(raw, dict):
        raise ConfigError(source, "(file)", "expected a mapping of keys at the top level")
    for override in overrides:
        try:
            apply_override(raw, override, tuple(ParameterSpec.model_fields))  # grid, ..., when
        except OverrideError as err:
            raise ConfigError(source, err.key, err.message) from None
    return validate_spec(raw, source)


def validate_spec(raw: dict, source: str) -> SweepSpec:
    try:
        spec = SweepSpec.model_validate(raw)
    except ValidationError as err:
        first = err.errors()[0]
        raise ConfigError(source, error_key(first), describe(first)) from None
    for key, param in spec.parameters.items():
        check_parameter(spec.trial, key, param, source)
    for key, param in spec.scheduler.mutations.items():
        check_parameter(spec.trial, key, param, source, prefix="scheduler.mutations")
    for key, param in spec.parameters.items():
        if spec.search.algorithm == "grid" and param.kind != "grid":
            raise ConfigError(
                source, f"parameters.{key}", f"search.algorithm grid takes only grid values, not {param.kind} "
                "(use search.algorithm: random or optuna for sampled parameters)")
        if spec.search.algorithm == "optuna" and param.kind == "grid":
            raise ConfigError(source, f"parameters.{key}", "optuna samples its values: use choice instead of grid")
    check_workers(spec, source)
    check_conditions(spec, source)  # before the race's first round is counted over the points
    check_seeds(spec, source)
    check_search(spec, source)
    return spec


def check_search(spec: SweepSpec, source: str) -> None:
    """Samplers and schedulers that only work with some searches."""
    search, scheduler = spec.search, spec.scheduler.name
    if search.sampler != "tpe" and search.algorithm != "optuna":
        raise ConfigError(source, "search.sampler", f"{search.sampler} is an Optuna sampler: "
                          "set search.algorithm: optuna (or leave search.sampler out)")
    if search.sampler == "cmaes":
        if len(spec.objectives) > 1:
            raise ConfigError(source, "search.sampler", "cmaes optimizes one metric: use tpe or gp for a metric list")
        for key, param in spec.parameters.items():
            if param.kind == "choice":
                raise ConfigError(source, f"parameters.{key}", "cmaes samples numbers (uniform, log_uniform, "
                                  "randint), not choice: Optuna would draw it at random; use tpe or gp")
    if search.warm_start is not None and search.algorithm != "optuna":
        raise ConfigError(source, "search.warm_start", "only optuna learns from earlier results: set "
                          "search.algorithm: optuna (grid and random search would run the same points)")
    if scheduler == "hyperband" and search.algorithm != "optuna":
        raise ConfigError(source, "scheduler.name", "hyperband runs BOHB: Optuna proposes its trials, so set "
                          "search.algorithm: optuna")


def check_seeds(spec: SweepSpec, source: str) -> None:
    """Replicates need a configuration to stay fixed over its seeds and its trials to stay independent."""
    check_race(spec, source)
    if spec.search.max_seeds == 1:
        return
    if spec.scheduler.name in POPULATION_SCHEDULERS:
        raise ConfigError(source, "search.seeds", f"{spec.scheduler.name} copies one trial's state into another, "
                          "so the seeds of a configuration would not stay independent replicates: use fifo or asha")
    if "train.seed" in spec.parameters:
        raise ConfigError(source, "parameters.train.seed", "search.seeds sets each replicate's train.seed: "
                          "do not sweep it as well")


def check_race(spec: SweepSpec, source: str) -> None:
    """A race decides between configurations on their seeds' final values: nothing else may stop a seed."""
    search = spec.search
    if search.race is None:
        if search.max_trials is not None:
            raise ConfigError(source, "search.max_trials", "caps a race's trials: it needs search.seeds "
                              "{min: 2, max: 8} (leave it out, or null, with a fixed number of seeds)")
        return
    if spec.scheduler.name != "fifo":
        raise ConfigError(source, "scheduler.name", f"{spec.scheduler.name} stops or copies trials early, and a race "
                          "compares each configuration's seeds at the same full budget (racing is itself the early "
                          "stopping, by configuration): use fifo with search.seeds {min, max}")
    if search.algorithm == "grid" and search.num_samples > 1:
        raise ConfigError(source, "search.num_samples", "repeats the grid, and a race gives each configuration its "
                          "seeds itself: leave num_samples at 1")
    if search.max_trials is not None and search.max_trials < race_first_round(spec):
        raise ConfigError(source, "search.max_trials", f"{search.max_trials} is fewer than the race's first round "
                          f"({race_first_round(spec)} trials: every configuration at search.seeds.min)")


def race_first_round(spec: SweepSpec) -> int:
    """Trials before a race's first decision: every configuration at min seeds (optuna's first one alone)."""
    configurations = {"grid": len(expand_grid(spec.parameters)), "random": spec.search.num_samples, "optuna": 1}[
        spec.search.algorithm]
    return configurations * spec.search.race.min


def check_workers(spec: SweepSpec, source: str) -> None:
    """A multi-worker trial splits every batch, and each worker's pack groups, evenly; PBT cannot move it."""
    workers, where = spec.resources.workers_per_trial, "resources.workers_per_trial"
    if workers == 1:
        return
    if spec.scheduler.name in POPULATION_SCHEDULERS:
        raise ConfigError(source, where, f"{spec.scheduler.name} needs single-worker trials: it copies Tune "
                          "checkpoints between trials, and a multi-worker trial keeps its checkpoints in its own "
                          "Ray Train run")
    gpus = spec.resources.gpus_per_worker
    if gpus != int(gpus):
        raise ConfigError(source, "resources.gpus_per_worker", f"{gpus}: fractional GPUs are for single-worker "
                          "trials (NCCL cannot run two workers of one trial on one GPU)")
    batch_key = "parameters.train.batch_size" if "train.batch_size" in spec.parameters else "trial.train.batch_size"
    batches = swept_or_fixed(spec, "train.batch_size", spec.trial.train.batch_size, source)
    for pack in swept_or_fixed(spec, "model.pack", spec.trial.model.pack, source):
        for batch in batches:
            if batch % (workers * pack) or batch // workers < 2:
                raise ConfigError(source, batch_key, f"batch_size {batch} does not split over {workers} workers "
                                  f"into equal batches of at least 2 (and whole groups of model.pack {pack})")


def swept_or_fixed(spec: SweepSpec, key: str, fixed: int, source: str) -> list[int]:
    param = spec.parameters.get(key)  # not a hyperparameter default: whether the key is swept at all
    if param is None:
        return [fixed]
    if not param.sampler.listed:
        raise ConfigError(source, f"parameters.{key}", f"multi-worker trials need listed values (grid or "
                          f"choice), not {param.kind}")
    return list(param.values)


def check_parameter(
    trial: TrialConfig, key: str, param: ParameterSpec, source: str, prefix: str = "parameters"
) -> None:
    """A swept key must name an existing trial field, and each bound of its values must be valid there."""
    where = f"{prefix}.{key}"
    if key.startswith("eval."):
        raise ConfigError(source, where, "evaluation settings are fixed per sweep, so that "
                          "every trial's metrics are comparable (FID and KID depend on the sample count)")
    node: Any = trial
    for part in key.split("."):
        if not isinstance(node, BaseModel) or part not in type(node).model_fields:
            raise ConfigError(source, where, f"no such trial key (at {part!r})")
        field = type(node).model_fields[part]
        node = getattr(node, part)
    if param.sampler.draws_fractions and int in (field.annotation, *get_args(field.annotation)):
        # the bounds alone would pass (64.0 is a valid int), and the trials would fail on 100.7
        raise ConfigError(source, where, f"{param.kind} draws fractions, but {key} takes whole numbers: "
                          "use randint or choice")
    for value in param.candidates():
        try:
            with_values(trial, {key: value})
        except ValidationError as err:
            first = err.errors()[0]
            raise ConfigError(source, where, f"value {value!r}: {describe(first)}") from None


def dotted(loc: tuple) -> str:
    """pydantic's error location as the user's dotted key: the dataset union's tag is not a key."""
    parts = [str(part) for i, part in enumerate(loc) if not (i and loc[i - 1] == "dataset" and part in DATASET_NAMES)
             and not (i and loc[i - 1] == "seeds" and part in (SEED_COUNT, SEED_RACE))]
    return ".".join(parts) or "(top level)"


def error_key(error: dict) -> str:
    key = dotted(error["loc"])
    return f"{key}.name" if error["type"] in ("union_tag_invalid", "union_tag_not_found") else key


def describe(error: dict) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key"
    if error["type"] == "missing":
        return "required key is missing"
    return error["msg"].removeprefix("Value error, ")  # a validator's own message says what is wrong

