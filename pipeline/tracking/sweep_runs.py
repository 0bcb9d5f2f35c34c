"""The driver's side of a sweep in MLflow: the parent run (opened, resumed, closed), what it records
once (the real-data floor, the race, the latent maps) and the champion's registration.

    sweep = open_sweep(spec, "search_spaces/dropout.yaml", "sqlite:///mlflow.db")

Each trial writes its own child run (tracking/trial_run.py); both sides find trial runs through
tracking/trial_runs.py.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from mlflow.entities import Metric, Param, RunStatus
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from pipeline.spec.config import SweepSpec, flatten
from pipeline.spec.metric_names import (
    FLOOR_PREFIX,
    FLOOR_SD_PREFIX,
    FLOOR_SOURCE_PARAM,
    FLOOR_SPREAD_PARAM,
    PROTOCOL_PARAM,
)
from pipeline.tracking.keys import (
    END_REASON_TAG,
    METRIC_TAG,
    MODE_TAG,
    OBJECTIVES_TAG,
    RESULTS_DIR_TAG,
    ROLE_PARENT,
    ROLE_TAG,
    SWEPT_PARAM,
)
from pipeline.tracking.location import SweepRun, artifact_root_for
from pipeline.tracking.outputs import CHAMPION_ALIAS, latest_generator_model
from pipeline.tracking.trial_runs import RANKED_ARTIFACT, source_tags

CHAMPION_STEP_TAG = "step"  # on a registered version: the step of the checkpoint it holds
# the experiment kind that MLflow 3's UI opens in its model-training (runs) view
EXPERIMENT_KIND_TAG, EXPERIMENT_KIND = "mlflow.experimentKind", "custom_model_development"
RACE_ARTIFACT = "race.json"  # on a racing sweep's parent run: every round's decision (sweep/racing.py)

def open_sweep(spec: SweepSpec, spec_path: str, tracking_uri: str, experiment_name: str | None = None) -> SweepRun:
    """Create the sweep's experiment (the spec's name unless given; if new) and its parent run, with
    the spec file and the resolved spec as artifacts."""
    client = MlflowClient(tracking_uri)
    experiment_name = experiment_name or spec.name
    experiment = client.get_experiment_by_name(experiment_name)
    experiment_id = (
        experiment.experiment_id
        if experiment
        else client.create_experiment(experiment_name, artifact_location=artifact_root_for(tracking_uri))
    )
    # MLflow 3's UI opens an experiment without this tag in its GenAI view (traces), not its runs
    client.set_experiment_tag(experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
    run = client.create_run(
        experiment_id,
        run_name=f"{spec.name}-{time.strftime('%Y%m%d-%H%M%S')}",
        tags={ROLE_TAG: ROLE_PARENT, METRIC_TAG: spec.primary_metric, MODE_TAG: spec.primary_mode,
              OBJECTIVES_TAG: json.dumps(spec.objectives), **environment_tags()},
    )
    params = flatten({"search": spec.search.model_dump(), "scheduler": spec.scheduler.model_dump()})
    params.update(flatten({"resources": spec.resources.model_dump(), "report": spec.report.model_dump()}))
    params[SWEPT_PARAM] = json.dumps(sorted(spec.parameters))
    client.log_batch(run.info.run_id, params=[Param(k, str(v)) for k, v in params.items()])
    client.log_artifact(run.info.run_id, spec_path)
    client.log_text(run.info.run_id, json.dumps(spec.model_dump(), indent=2), "resolved_spec.json")
    return SweepRun(tracking_uri, experiment_id, run.info.run_id, experiment_name)


def log_floor(sweep: SweepRun, floor: dict[str, float], source: str, sd: dict[str, float], spread: str,
              protocol: str) -> None:
    """The real-vs-real floor, which real points it scores, its sd over real sets (`spread` says which),
    and the evaluation protocol every metric of the sweep follows, once per sweep, on the parent run."""
    client = sweep.client()
    timestamp = int(time.time() * 1000)
    metrics = [Metric(f"{FLOOR_PREFIX}{k}", v, timestamp, 0) for k, v in floor.items()]
    metrics += [Metric(f"{FLOOR_SD_PREFIX}{k}", v, timestamp, 0) for k, v in sd.items()]
    params = [Param(FLOOR_SOURCE_PARAM, source), Param(FLOOR_SPREAD_PARAM, spread), Param(PROTOCOL_PARAM, protocol)]
    client.log_batch(sweep.run_id, metrics=metrics, params=params)


def reopen_sweep(tracking_uri: str, experiment_name: str, parent_run_id: str | None) -> tuple[SweepRun, str]:
    """The sweep to resume (the newest of the experiment unless named), marked running again, and
    the Tune results folder it recorded."""
    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        raise LookupError(f"no MLflow experiment {experiment_name!r} at {tracking_uri}: nothing to resume")
    if parent_run_id is None:
        runs = client.search_runs([experiment.experiment_id], f"tags.`{ROLE_TAG}` = '{ROLE_PARENT}'",
                                  max_results=1, order_by=["attributes.start_time DESC"])
        if not runs:
            raise LookupError(f"experiment {experiment_name!r} holds no sweep to resume")
        parent = runs[0]
    else:
        parent = client.get_run(parent_run_id)
    results_dir = parent.data.tags.get(RESULTS_DIR_TAG)  # absent where the sweep stopped before Tune started
    if results_dir is None:
        raise LookupError(f"sweep run {parent.info.run_id} has no {RESULTS_DIR_TAG} tag: it cannot be resumed")
    client.update_run(parent.info.run_id, status=RunStatus.to_string(RunStatus.RUNNING))
    return SweepRun(tracking_uri, experiment.experiment_id, parent.info.run_id, experiment_name), results_dir


def record_results_dir(sweep: SweepRun, path: str) -> None:
    """Where Tune writes this sweep's results: `pipeline.tracking.sync` reads them back from there."""
    sweep.client().set_tag(sweep.run_id, RESULTS_DIR_TAG, path)


def record_end_reason(sweep: SweepRun, reason: str) -> None:
    sweep.client().set_tag(sweep.run_id, END_REASON_TAG, reason)


def close_sweep(sweep: SweepRun, failed: bool) -> None:
    status = RunStatus.to_string(RunStatus.FAILED if failed else RunStatus.FINISHED)
    sweep.client().set_terminated(sweep.run_id, status)


def environment_tags() -> dict[str, str]:
    import platform
    from importlib.metadata import version

    import mlflow
    import torch

    tags = {
        "ray.version": version("ray"),  # its installed version, without importing Ray into tracking code
        "torch.version": torch.__version__,
        "mlflow.version": mlflow.__version__,
        "host.platform": platform.platform(),
        "host.cpus": str(os.cpu_count()),
        "host.gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
    }
    return tags | source_tags()


def register_best(sweep: SweepRun, name: str, run_id: str, metric: str, value: float, step: int | None) -> str:
    """The best trial's generator model (the last its run logged: its ranked checkpoint's) as a new
    version of registered model `name`, given the alias `champion` and tagged with the ranked `step` and
    `value`; returns the version."""
    client = sweep.client()
    model = latest_generator_model(client, sweep.experiment_id, run_id)
    if model is None:
        raise LookupError(f"run {run_id} logged no generator model (MLflow did not take it?): nothing to register; "
                          f"its ranked checkpoint, if logged, is artifact {RANKED_ARTIFACT}")
    try:
        client.create_registered_model(name, description=f"Best generator of each {name} sweep, by {metric}")
    except MlflowException as err:
        if err.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    # the artifact location, not models:/<id>: MLflow would resolve that against the default tracking URI
    version = client.create_model_version(name, source=model.artifact_location, run_id=run_id, model_id=model.model_id,
                                          tags={"sweep.run_id": sweep.run_id, metric: str(value),
                                                CHAMPION_STEP_TAG: str(step)},
                                          description=f"{metric} {value:.6g} at step {step}: the checkpoint the "
                                                      "sweep ranked (the trial's best evaluation)")
    client.set_registered_model_alias(name, CHAMPION_ALIAS, version.version)
    return version.version


def log_race(sweep: SweepRun, record: dict) -> None:
    """The race's rounds so far (each decision, its tests and who was dropped) as RACE_ARTIFACT on the parent run."""
    sweep.client().log_dict(sweep.run_id, record, RACE_ARTIFACT)


def read_race(client: MlflowClient, parent_run_id: str) -> dict | None:
    """The race a sweep ran (its record as `log_race` wrote it last), or None for a sweep that did not race."""
    if not any(item.path == RACE_ARTIFACT for item in client.list_artifacts(parent_run_id)):
        return None
    with tempfile.TemporaryDirectory() as folder:
        return json.loads(Path(client.download_artifacts(parent_run_id, RACE_ARTIFACT, folder)).read_text())


def log_sweep_pictures(sweep: SweepRun, pictures: dict[str, np.ndarray], folder: str) -> None:
    """Pictures of the whole sweep (the best generator's latent maps) as <folder>/<name>.png on the parent run."""
    client = sweep.client()
    for name, picture in pictures.items():
        client.log_image(sweep.run_id, picture, artifact_file=f"{folder}/{name}.png")
