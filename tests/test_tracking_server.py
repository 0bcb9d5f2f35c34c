"""Sweeps against a real `mlflow server` on loopback: HTTP, SQLite backend, proxied artifacts; the shared
sweep meets a server outage mid-training, so every check below also says that nothing was lost to it."""

import subprocess
import sys

import pytest
import torch
from mlflow.tracking import MlflowClient

from pipeline.core.evaluate import main as evaluate_main
from pipeline.spec import metric_names as names
from pipeline.tracking.keys import ROLE_TAG, STATUS_TAG

from .conftest import SEARCH_SPACES, free_port, trial_runs, wait_until
from .servers import MlflowServer

pytestmark = pytest.mark.e2e
STEPS, EVAL_EVERY = 500, 100
EVALUATION_STEPS = list(range(EVAL_EVERY, STEPS + 1, EVAL_EVERY))


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    server = MlflowServer(tmp_path_factory.mktemp("server"), free_port())
    server.start()
    yield server
    server.stop()


def evaluations_reported(workdir) -> int:
    """Results the sweep's trials have given Tune (each written after its MLflow logging was tried)."""
    return sum(len(path.read_text().splitlines()) for path in workdir.glob("ray_results/*/*/result.json"))


def first_evaluation_logged(client: MlflowClient) -> bool:
    experiment = client.get_experiment_by_name("ring8")
    runs = client.search_runs([experiment.experiment_id], "tags.`sweep.role` = 'trial'") if experiment else []
    return any(client.get_metric_history(run.info.run_id, names.FID) for run in runs)


@pytest.fixture(scope="module")
def sweep_on_server(mlflow_server, tmp_path_factory):
    """Two trials; once one has logged an evaluation the server goes down until three more evaluations
    have met the outage (so at least one trial's logging failed), then comes back on the same store."""
    workdir = tmp_path_factory.mktemp("sweep")
    sweep = subprocess.Popen(
        [sys.executable, "-m", "pipeline.sweep", str(SEARCH_SPACES / "ring8.yaml"), "--tracking-uri",
         mlflow_server.uri, "--set", f"trial.train.steps={STEPS}", "--set", f"trial.train.eval_every={EVAL_EVERY}",
         "--set", "trial.eval.samples=500", "--set", "parameters={model.dropout: {grid: [0.0, 0.3]}}"],
        cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        wait_until(lambda: first_evaluation_logged(MlflowClient(mlflow_server.uri)) or sweep.poll() is not None,
                   "a trial's first evaluation in MLflow", timeout=300)
        mlflow_server.stop()
        reported_before_outage = evaluations_reported(workdir)
        wait_until(lambda: evaluations_reported(workdir) >= reported_before_outage + 3 or sweep.poll() is not None,
                   "evaluations during the outage", timeout=300)
        mlflow_server.start()
        output, _ = sweep.communicate(timeout=500)
    finally:
        if sweep.poll() is None:
            sweep.kill()
    assert sweep.returncode == 0, output[-4000:]
    assert "kept to send later" in output  # the outage really happened during training
    return workdir, output


def test_runs_nest_and_hold_metrics_and_images_at_every_step(mlflow_server, sweep_on_server):
    client = MlflowClient(mlflow_server.uri)
    experiment = client.get_experiment_by_name("ring8")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if r.data.tags.get(ROLE_TAG) == "parent"]
    children = [r for r in runs if r.data.tags.get(ROLE_TAG) == "trial"]
    assert len(parents) == 1 and len(children) == 2
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parents[0].info.run_id}
    for child in children:
        assert child.data.tags[STATUS_TAG] == "finished"
        assert child.data.params["optim.d.lr"] == "0.001" and child.data.params["model.dropout"] in ("0.0", "0.3")
        history = client.get_metric_history(child.info.run_id, names.FID)
        assert [m.step for m in history] == EVALUATION_STEPS  # each once, outage or not
        images = [a.path for a in client.list_artifacts(child.info.run_id, "images") if a.path.endswith(".png")]
        # at least once: a call the dying server took without answering is sent again
        assert {int(p.split("+step+")[1].split("+")[0]) for p in images} == set(EVALUATION_STEPS)


def test_final_checkpoint_is_an_artifact_that_evaluate_loads(mlflow_server, sweep_on_server, tmp_path, capsys):
    client = MlflowClient(mlflow_server.uri)
    experiment = client.get_experiment_by_name("ring8")
    child = next(r for r in client.search_runs([experiment.experiment_id]) if r.data.tags.get(ROLE_TAG) == "trial")
    path = client.download_artifacts(child.info.run_id, "checkpoint/gan.pt", str(tmp_path))
    assert torch.load(path, weights_only=False)["step"] == STEPS
    assert evaluate_main(["--checkpoint", path, "--n", "500", "--json"]) == 0
    assert '"fid"' in capsys.readouterr().out


def test_best_trial_is_a_registered_model_version(mlflow_server, sweep_on_server):
    client = MlflowClient(mlflow_server.uri)
    versions = client.search_model_versions("name = 'ring8'")
    assert len(versions) == 1
    run = client.get_run(versions[0].run_id)
    assert run.data.tags[ROLE_TAG] == "trial"


def test_report_reads_from_the_server(mlflow_server, sweep_on_server):
    workdir, output = sweep_on_server
    html = (workdir / "reports" / "ring8.html").read_text()
    assert html.count('alt="samples of ') == 2  # each trial's last sample picture, through the artifact proxy
    assert 'alt="latent plane"' in html  # the best generator's latent map, drawn by the driver
    client = MlflowClient(mlflow_server.uri)
    for run in trial_runs(client, "ring8"):  # each trial links to its run in the server's UI
        assert f'href="{mlflow_server.uri}/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}"' in html
    assert f"open {mlflow_server.uri}" in output


def test_unreachable_server_fails_before_any_trial(tmp_path):
    closed = f"http://127.0.0.1:{free_port()}"
    result = subprocess.run(
        [sys.executable, "-m", "pipeline.sweep", str(SEARCH_SPACES / "ring8.yaml"), "--tracking-uri", closed],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 1
    assert f"cannot reach the MLflow tracking server {closed}" in result.stderr
    assert "Started a local Ray" not in result.stdout + result.stderr  # failed before Ray: nothing waited
