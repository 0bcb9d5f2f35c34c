"""What a trial's MLflow run holds beyond its metrics, as MLflow users expect to find it:

- the dataset as a run input (`log_inputs`), named, with a hash of its content as the digest;
- the generator as an MLflow model with a signature (latent vectors in, samples out), so that
  `mlflow.pytorch.load_model("models:/<sweep>@champion")` gives a generator to sample from;
- system metrics (`system/cpu_utilization_percentage`, memory, disk, network, and GPU where
  nvidia-ml-py finds one), sampled by MLflow's SystemMetricsMonitor while the trial trains.

    from pipeline.tracking.outputs import dataset_input, log_generator_model
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import numpy as np
from mlflow.entities import Dataset, DatasetInput, InputTag, LoggedModel
from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor
from mlflow.tracking import MlflowClient

CHAMPION_ALIAS = "champion"  # the registered version the sweep's ranking chose last
GENERATOR_MODEL_NAME = "generator"
SYSTEM_METRICS_INTERVAL_S = 5.0  # one psutil sample every 5 s: a few per tiny trial, cheap beside training
TRAINING_CONTEXT = "training"  # MLflow's mlflow.data.context tag: what the run did with the dataset


def content_digest(points: np.ndarray, labels: np.ndarray) -> str:
    """A hash of the data itself, so two runs' inputs are the same data exactly when their digests match."""
    digest = hashlib.sha256(np.ascontiguousarray(points).tobytes())
    digest.update(np.ascontiguousarray(labels).tobytes())
    return digest.hexdigest()[:20]


def dataset_input(name: str, source: dict[str, Any], points: np.ndarray, labels: np.ndarray) -> DatasetInput:
    """The dataset as an MLflow run input: `source` is its config (path, split, ...), the profile its
    size and shape; nothing of the data itself is uploaded."""
    schema = {"mlflow_tensorspec": {"features": json.dumps([{"type": "tensor", "tensor-spec": {
        "dtype": str(points.dtype), "shape": [-1, *points.shape[1:]]}}]), "targets": None}}
    profile = {"points": int(points.shape[0]), "shape": list(points.shape[1:]),
               "labels": int(len(np.unique(labels)))}
    dataset = Dataset(name=name, digest=content_digest(points, labels),
                      source_type="local" if "path" in source else "code", source=json.dumps(source),
                      schema=json.dumps(schema), profile=json.dumps(profile))
    return DatasetInput(dataset, tags=[InputTag("mlflow.data.context", TRAINING_CONTEXT)])


class OwnedRunMonitor(SystemMetricsMonitor):
    """MLflow's system-metrics sampler, which stops instead of publishing into a run that a later attempt
    of the trial owns now (a zombie cut off from Ray but not from MLflow samples on otherwise)."""

    def __init__(self, run_id: str, tracking_uri: str, resume: bool, owns_run: Callable[[], bool]):
        super().__init__(run_id, sampling_interval=SYSTEM_METRICS_INTERVAL_S, resume_logging=resume,
                         tracking_uri=tracking_uri)
        self.owns_run = owns_run

    def publish_metrics(self, metrics: dict) -> None:
        if not self.owns_run():
            self._shutdown_event.set()  # the sampling loop ends after this round
            return
        super().publish_metrics(metrics)


def start_system_metrics(run_id: str, tracking_uri: str, resume: bool, owns_run: Callable[[], bool]) -> Any:
    """MLflow's system-metrics sampler on this run, in a thread of this process, publishing while
    `owns_run()`; `resume` goes on from the steps an earlier attempt of the trial logged."""
    monitor = OwnedRunMonitor(run_id, tracking_uri, resume, owns_run)
    monitor.start()
    return monitor


def log_generator_model(tracking_uri: str, run_id: str, generator: Any, latent_dim: int, step: int) -> str:
    """The generator as MLflow model `generator` of the run, with its signature; returns the model id.
    Logged by run id, not inside `mlflow.start_run`, which would mark the run running and then finished.

    Pickled (MLflow's 'pt2' export would fix the batch size); loading needs this package installed."""
    import mlflow
    import mlflow.pytorch
    import torch
    from mlflow.models import infer_signature

    noise = torch.randn(2, latent_dim)
    with torch.no_grad():
        samples = generator(noise)
    signature = infer_signature(noise.numpy(), samples.numpy())
    experiment_id = MlflowClient(tracking_uri).get_run(run_id).info.experiment_id
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(tracking_uri)  # mlflow.pytorch logs through the fluent API's tracking URI only
    try:
        # made first: by run id alone, log_model would file the model under the default experiment
        model = mlflow.initialize_logged_model(GENERATOR_MODEL_NAME, source_run_id=run_id, experiment_id=experiment_id)
        info = mlflow.pytorch.log_model(
            generator, name=GENERATOR_MODEL_NAME, signature=signature, step=step, serialization_format="pickle",
            pip_requirements=[f"torch=={torch.__version__.split('+')[0]}"],  # no slow requirement inference
            run_id=run_id, model_id=model.model_id,
        )
    finally:
        mlflow.set_tracking_uri(previous)  # this process's own setting, for whatever else it logs
    return info.model_id


def latest_generator_model(client: MlflowClient, experiment_id: str, run_id: str) -> LoggedModel | None:
    """The last generator model a run logged (a PBT trial logs one each time it pauses), or None."""
    models = client.search_logged_models(
        experiment_ids=[experiment_id], filter_string=f"source_run_id = '{run_id}'",
        order_by=[{"field_name": "creation_timestamp", "ascending": False}], max_results=1,
    )
    return models[0] if models else None
