"""Sweeps that grow: `--extend` reopens a finished sweep with the trials it ran, and
search.warm_start adds an earlier sweep's trials to what a new Optuna study starts with."""

from __future__ import annotations

from dataclasses import dataclass

from mlflow.tracking import MlflowClient

from pipeline.errors import NothingToExtend
from pipeline.spec.config import ConfigError, SweepSpec
from pipeline.sweep.history import History
from pipeline.sweep.space import listed_points
from pipeline.tracking.history import logged_trials, sweep_parent, swept_keys
from pipeline.tracking.keys import EXTENSIONS_TAG, SEEDS_PARAM
from pipeline.tracking.location import SweepRun, resolve_tracking_uri
from pipeline.tracking.run_queries import SweepNotFound
from pipeline.tracking.sweep_runs import reopen_sweep


@dataclass(frozen=True)
class Extension:
    """A finished sweep that `--extend` may grow: checked, not yet reopened."""

    tracking_uri: str
    experiment: str
    parent_run_id: str
    history: History  # the trials it ran, and which extension this one is


def plan_extension(spec: SweepSpec, tracking_uri: str | None, experiment: str | None, which: str) -> Extension:
    """The sweep to extend (`which`: "latest" of the experiment, or a parent run id) with the trials
    it ran, checked to be over (not running), this spec's (the same swept keys and seeds) and to have room to grow.
    Nothing is changed, so the driver calls this before Ray starts and a refusal costs nothing."""
    uri = resolve_tracking_uri(tracking_uri)
    experiment = experiment or spec.name
    client = MlflowClient(uri)
    try:
        parent = sweep_parent(client, experiment if which == "latest" else which)
    except SweepNotFound as err:
        raise NothingToExtend(f"cannot extend: {err}") from err
    if parent.info.status == "RUNNING":  # its driver is still adding trials, or was killed before it could close it
        raise NothingToExtend(f"cannot extend sweep {parent.info.run_id}: it is still running; wait for it to end, "
                              "or if its driver was stopped, finish it first with --resume")
    if spec.search.race is not None:
        raise NothingToExtend("cannot extend a race: its rounds decided between the configurations it started "
                              "with; start a new sweep over the configurations to add")
    swept, seeds = set(swept_keys(parent)), parent.data.params.get(SEEDS_PARAM, "1")
    if swept != set(spec.parameters) or seeds != str(spec.search.seeds):
        raise NothingToExtend(
            f"cannot extend sweep {parent.info.run_id}: it swept {sorted(swept)} with search.seeds {seeds}, this "
            f"spec sweeps {sorted(spec.parameters)} with {spec.search.seeds}; an extension keeps both")
    extension = int(parent.data.tags.get(EXTENSIONS_TAG, "0")) + 1
    history = History.from_trials(spec, logged_trials(client, parent), extension)
    if spec.search.algorithm != "optuna" and not listed_points(spec, history):
        raise NothingToExtend(f"cannot extend sweep {parent.info.run_id}: its trials ran every point of this "
                              "grid already (add values, or use random or optuna search)")
    return Extension(uri, experiment, parent.info.run_id, history)


def reopen_for_extension(extension: Extension) -> SweepRun:
    """The planned sweep's parent run, marked running again and counting one more extension."""
    sweep, _ = reopen_sweep(extension.tracking_uri, extension.experiment, extension.parent_run_id)
    sweep.client().set_tag(sweep.run_id, EXTENSIONS_TAG, str(extension.history.extension))
    return sweep


def warm_started(spec: SweepSpec, spec_path: str, sweep: SweepRun, history: History) -> History:
    """`history` with the trials of search.warm_start's sweep, those inside this spec's space."""
    if spec.search.warm_start is None:
        return history
    client = sweep.client()
    try:
        source = sweep_parent(client, spec.search.warm_start)
    except SweepNotFound as err:
        raise ConfigError(spec_path, "search.warm_start", str(err)) from err
    earlier = History.from_trials(spec, logged_trials(client, source))
    print(f"Warm start from sweep {source.info.run_id}: {len(earlier.points)} of its trials told to Optuna, "
          f"{earlier.skipped} outside this space (or without its metrics) skipped", flush=True)
    return history.joined(earlier)
