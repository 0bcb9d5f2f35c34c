"""Issue 3's sweeps as a user runs them: packing on grid25 with one exploding trial, and full MNIST
from IDX files."""

import subprocess
import sys

import pytest
from mlflow.tracking import MlflowClient

from pipeline import metric_names as names
from pipeline.run_keys import REASON_TAG, ROLE_TAG, STATUS_TAG

from .conftest import SEARCH_SPACES
from .fixtures import write_mnist_idx

pytestmark = pytest.mark.e2e


def run_sweep(workdir, spec, *overrides):
    uri = f"sqlite:///{workdir / 'ml.db'}"
    command = [sys.executable, "-m", "pipeline.sweep", str(SEARCH_SPACES / spec), "--tracking-uri", uri]
    for override in overrides:
        command += ["--set", override]
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return MlflowClient(uri), result


def trial_runs(client, name):
    experiment = client.get_experiment_by_name(name)
    return [r for r in client.search_runs([experiment.experiment_id]) if r.data.tags.get(ROLE_TAG) == "trial"]


def test_packed_grid25_sweep_with_a_diverging_trial(tmp_path):
    client, _ = run_sweep(
        tmp_path, "grid25.yaml", "trial.model.pack=2", "trial.train.steps=200", "trial.train.eval_every=100",
        "trial.eval.samples=500", "parameters={optim.d.lr: {grid: [1.0e-3, 1000]}}",
    )
    runs = {r.data.params["optim.d.lr"]: r for r in trial_runs(client, "grid25")}
    assert runs["0.001"].data.tags[STATUS_TAG] == "finished"
    assert runs["0.001"].data.params["model.pack"] == "2"
    assert [m.step for m in client.get_metric_history(runs["0.001"].info.run_id, names.MODES)] == [100, 200]
    assert runs["1000.0"].data.tags[STATUS_TAG] == "diverged"
    assert "loss" in runs["1000.0"].data.tags[REASON_TAG]
    report = (tmp_path / "reports" / "grid25.html").read_text()
    assert "diverged" in report and "finished" in report


def test_sweep_on_mnist_idx_files(tmp_path):
    data = write_mnist_idx(tmp_path / "mnist", count=600)
    client, _ = run_sweep(
        tmp_path, "dropout.yaml", f"trial.dataset={{name: mnist, path: {data}}}", "trial.train.steps=40",
        "trial.train.eval_every=20", "trial.eval.samples=200", "parameters.model.dropout.grid=[0.3]",
    )
    (run,) = trial_runs(client, "dropout")
    assert run.data.tags[STATUS_TAG] == "finished"
    assert run.data.params["dataset.name"] == "mnist" and run.data.params["dataset.path"] == str(data)
    assert {names.FID, names.MODES, names.CLASSIFIER_ACCURACY} <= set(run.data.metrics)
