"""Issue 3's sweeps as a user runs them: packing on grid25 with one exploding trial, and full MNIST
from IDX files."""


import pytest

from pipeline import metric_names as names
from pipeline.run_keys import REASON_TAG, STATUS_TAG

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
    data = write_mnist_idx(tmp_path / "mnist", count=600)
    client, _ = run_sweep(
        tmp_path, "dropout.yaml", f"trial.dataset={{name: mnist, path: {data}}}", "trial.train.steps=40",
        "trial.train.eval_every=20", "trial.eval.samples=200", "parameters.model.dropout.grid=[0.3]",
    )
    (run,) = trial_runs(client, "dropout")
    assert run.data.tags[STATUS_TAG] == "finished"
    assert run.data.params["dataset.name"] == "mnist" and run.data.params["dataset.path"] == str(data)
    assert {names.FID, names.MODES, names.CLASSIFIER_ACCURACY} <= set(run.data.metrics)
