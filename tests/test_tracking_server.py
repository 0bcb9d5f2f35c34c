"""Sweeps against a real `mlflow server` on loopback: HTTP, SQLite backend, proxied artifacts."""

import subprocess
import sys
import time
import urllib.request

import pytest
import torch
from mlflow.tracking import MlflowClient

from pipeline import metric_names as names
from pipeline.evaluate import main as evaluate_main
from pipeline.run_keys import ROLE_TAG, STATUS_TAG

from .conftest import SEARCH_SPACES, free_port, trial_runs

pytestmark = pytest.mark.e2e



def start_server(root, port):
    """`mlflow server` on loopback with a SQLite backend and proxied artifacts under `root`; waits until it answers."""
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{root / 'server.db'}", "--serve-artifacts",
         "--artifacts-destination", str(root / "artifacts"), "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=(root / "server.log").open("w"),
    )
    deadline = time.monotonic() + 90
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
            return server
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                pytest.fail("mlflow server did not start:\n" + (root / "server.log").read_text()[-3000:])
            time.sleep(0.5)


def stop_server(server):
    server.terminate()
    server.wait(timeout=30)


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    port = free_port()
    server = start_server(tmp_path_factory.mktemp("server"), port)
    yield f"http://127.0.0.1:{port}"
    stop_server(server)


@pytest.fixture(scope="module")
def sweep_on_server(mlflow_server, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("sweep")
    command = [
        sys.executable, "-m", "pipeline.sweep", str(SEARCH_SPACES / "ring8.yaml"), "--tracking-uri", mlflow_server,
        "--set", "trial.train.steps=300", "--set", "trial.train.eval_every=100", "--set", "trial.eval.samples=500",
        "--set", "parameters={model.dropout: {grid: [0.0, 0.3]}}",
    ]
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return workdir, result


def test_runs_nest_and_hold_metrics_and_images_at_every_step(mlflow_server, sweep_on_server):
    client = MlflowClient(mlflow_server)
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
        assert [m.step for m in history] == [100, 200, 300]
        images = [a.path for a in client.list_artifacts(child.info.run_id, "images") if a.path.endswith(".png")]
        assert sorted(int(p.split("+step+")[1].split("+")[0]) for p in images) == [100, 200, 300]


def test_final_checkpoint_is_an_artifact_that_evaluate_loads(mlflow_server, sweep_on_server, tmp_path, capsys):
    client = MlflowClient(mlflow_server)
    experiment = client.get_experiment_by_name("ring8")
    child = next(r for r in client.search_runs([experiment.experiment_id]) if r.data.tags.get(ROLE_TAG) == "trial")
    path = client.download_artifacts(child.info.run_id, "checkpoint/gan.pt", str(tmp_path))
    assert torch.load(path, weights_only=False)["step"] == 300
    assert evaluate_main(["--checkpoint", path, "--n", "500", "--json"]) == 0
    assert '"fid"' in capsys.readouterr().out


def test_best_trial_is_a_registered_model_version(mlflow_server, sweep_on_server):
    client = MlflowClient(mlflow_server)
    versions = client.search_model_versions("name = 'ring8'")
    assert len(versions) == 1
    run = client.get_run(versions[0].run_id)
    assert run.data.tags[ROLE_TAG] == "trial"


def test_report_reads_from_the_server(mlflow_server, sweep_on_server):
    workdir, result = sweep_on_server
    html = (workdir / "reports" / "ring8.html").read_text()
    assert html.count('alt="samples of ') == 2  # each trial's last sample picture, through the artifact proxy
    assert 'alt="latent plane"' in html  # the best generator's latent map, drawn by the driver
    client = MlflowClient(mlflow_server)
    for run in trial_runs(client, "ring8"):  # each trial links to its run in the server's UI
        assert f'href="{mlflow_server}/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}"' in html
    assert f"open {mlflow_server}" in result.stdout


def test_unreachable_server_fails_before_any_trial(tmp_path):
    closed = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "pipeline.sweep", str(SEARCH_SPACES / "ring8.yaml"), "--tracking-uri", closed],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 1
    assert f"cannot reach the MLflow tracking server {closed}" in result.stderr
    assert "Started a local Ray" not in result.stdout + result.stderr
    assert time.monotonic() - started < 60


def evaluations_reported(workdir) -> int:
    """Results the sweep's trials have given Tune (each written after its MLflow logging was tried)."""
    return sum(len(path.read_text().splitlines()) for path in workdir.glob("ray_results/*/*/result.json"))


def test_server_down_mid_sweep_loses_nothing(tmp_path):
    port, root = free_port(), tmp_path / "server"
    root.mkdir()
    uri = f"http://127.0.0.1:{port}"
    server = start_server(root, port)
    sweep = subprocess.Popen(
        [sys.executable, "-m", "pipeline.sweep", str(SEARCH_SPACES / "ring8.yaml"), "--tracking-uri", uri,
         "--set", "trial.train.steps=1000", "--set", "trial.train.eval_every=250", "--set", "trial.eval.samples=500",
         "--set", "parameters={model.dropout: {grid: [0.3]}}"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        client = MlflowClient(uri)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:  # wait for the trial's first two evaluations
            experiment = client.get_experiment_by_name("ring8")
            runs = client.search_runs([experiment.experiment_id], "tags.`sweep.role` = 'trial'") if experiment else []
            if runs and len(client.get_metric_history(runs[0].info.run_id, names.FID)) >= 2:
                break
            time.sleep(0.5)
        stop_server(server)
        deadline = time.monotonic() + 300
        while evaluations_reported(tmp_path) < 3 and time.monotonic() < deadline:
            time.sleep(0.5)  # the trial trains on, meets the outage at its 3rd evaluation and keeps it to send later
        server = start_server(root, port)
        output, _ = sweep.communicate(timeout=500)
    finally:
        if sweep.poll() is None:
            sweep.kill()
    try:
        assert sweep.returncode == 0, output[-4000:]
        assert "kept to send later" in output  # the outage really happened during training
        (run,) = client.search_runs([experiment.experiment_id], "tags.`sweep.role` = 'trial'")
        assert run.data.tags[STATUS_TAG] == "finished"
        steps = list(range(250, 1001, 250))
        assert [m.step for m in client.get_metric_history(run.info.run_id, names.FID)] == steps
        images = [a.path for a in client.list_artifacts(run.info.run_id, "images") if a.path.endswith(".png")]
        # at least once: a call the dying server took without answering is sent again
        assert {int(p.split("+step+")[1].split("+")[0]) for p in images} == set(steps)
    finally:
        stop_server(server)
