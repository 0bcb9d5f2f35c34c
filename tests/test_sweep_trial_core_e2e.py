"""Issue 3's sweeps as a user runs them: packing on grid25 with one exploding trial, and full MNIST
from IDX files."""


import json

import mlflow
import mlflow.pytorch
import pytest
import torch

from pipeline.core.data import load_dataset
from pipeline.spec import metric_names as names
from pipeline.spec.datasets import dataset_config
from pipeline.tracking.keys import REASON_TAG, STATUS_TAG
from pipeline.tracking.outputs import content_digest

from .conftest import run_sweep, trial_runs
from .fixtures import write_mnist_idx

pytestmark = pytest.mark.e2e


def test_packed_grid25_sweep_with_a_diverging_trial(diverging_grid25_sweep):
    workdir, client = diverging_grid25_sweep
    runs = {r.data.params["optim.d.lr"]: r for r in trial_runs(client, "grid25")}
    assert runs["0.001"].data.tags[STATUS_TAG] == "finished"
    assert runs["0.001"].data.params["model.pack"] == "2"
    assert [m.step for m in client.get_metric_history(runs["0.001"].info.run_id, names.MODES)] == [100, 200]
    assert runs["1000.0"].data.tags[STATUS_TAG] == "diverged"
    assert "loss" in runs["1000.0"].data.tags[REASON_TAG]
    report = (workdir / "reports" / "grid25.html").read_text()
    assert "diverged" in report and "finished" in report


def test_sweep_on_mnist_idx_files(tmp_path):
    """... and its runs as MLflow users expect them: system metrics, the dataset as an input, the
    generator as a model that `models:/dropout@champion` loads and samples digits from."""
    data = write_mnist_idx(tmp_path / "mnist", count=600)
    client, _ = run_sweep(
        tmp_path, "dropout.yaml", f"trial.dataset={{name: mnist, path: {data}}}", "trial.train.steps=40",
        "trial.train.eval_every=20", "trial.eval.samples=200", "parameters.model.dropout.grid=[0.3]",
        "search.seeds=1",
        env={"MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL": "1"},  # a sample a second: this trial takes seconds
    )
    (run,) = trial_runs(client, "dropout")
    assert run.data.tags[STATUS_TAG] == "finished"
    assert run.data.params["dataset.name"] == "mnist" and run.data.params["dataset.path"] == str(data)
    assert {names.FID, names.MODES, names.CLASSIFIER_ACCURACY} <= set(run.data.metrics)

    assert {"system/cpu_utilization_percentage", "system/system_memory_usage_megabytes"} <= set(run.data.metrics)
    [given] = run.inputs.dataset_inputs
    digits = load_dataset(dataset_config("mnist", path=str(data)))
    assert given.dataset.name == "mnist" and json.loads(given.dataset.source)["path"] == str(data)
    assert given.dataset.digest == content_digest(digits.points.numpy(), digits.labels.numpy())
    assert run.data.tags["mlflow.source.name"] == "pipeline.sweep" and "mlflow.source.git.commit" in run.data.tags

    version = client.get_model_version_by_alias("dropout", "champion")
    assert version.run_id == run.info.run_id
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(client.tracking_uri)
    try:
        generator = mlflow.pytorch.load_model("models:/dropout@champion")
    finally:
        mlflow.set_tracking_uri(previous)
    latent = int(run.data.params["model.latent_dim"])
    with torch.no_grad():
        samples = generator(torch.randn(5, latent))
    assert samples.shape == (5, 1, 28, 28) and samples.min() >= -1 and samples.max() <= 1  # digits, tanh range
