"""A whole sweep as a user runs it: 2 tiny ring8 trials through Ray Tune, MLflow (SQLite) and the report."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from pipeline.spec import metric_names as names
from pipeline.tracking.keys import ROLE_TAG, STATUS_TAG

from .conftest import SEARCH_SPACES

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def finished_sweep(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("sweep")
    uri = f"sqlite:///{workdir / 'ml.db'}"
    command = [
        sys.executable, "-m", "pipeline.sweep", str(SEARCH_SPACES / "ring8.yaml"),
        "--set", "trial.train.steps=300", "--set", "trial.train.eval_every=100",
        "--set", "trial.eval.samples=500", "--set", "parameters={model.dropout: {grid: [0.0, 0.3]}}",
        "--set", "search.max_concurrent=2", "--tracking-uri", uri,
    ]
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return workdir, uri, result


def test_prints_report_path_and_browse_command(finished_sweep):
    workdir, uri, result = finished_sweep
    assert f"Report: {workdir / 'reports' / 'ring8.html'}" in result.stdout
    assert f"mlflow ui --backend-store-uri {uri}" in result.stdout


def test_mlflow_holds_one_parent_with_one_child_per_trial(finished_sweep):
    _, uri, _ = finished_sweep
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("ring8")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if r.data.tags.get(ROLE_TAG) == "parent"]
    children = [r for r in runs if r.data.tags.get(ROLE_TAG) == "trial"]
    assert len(parents) == 1 and len(children) == 2
    parent = parents[0]
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parent.info.run_id}
    assert "floor.fid" in parent.data.metrics and parent.data.metrics["floor_sd.fid"] > 0
    assert parent.data.params["floor.source"] == "500 points held back from ring8"
    assert parent.data.params["floor.spread"] == "5 bootstrap resamples of the floor's 500 points held back from ring8"
    assert parent.data.params["eval.protocol"].startswith("the points' own coordinates; each evaluation scores 500")
    assert sorted(r.data.params["model.dropout"] for r in children) == ["0.0", "0.3"]
    for child in children:
        assert child.data.tags[STATUS_TAG] == "finished"
        for metric in (names.FID, names.MODES, names.LOSS_D, names.D_ACC_REAL):
            history = client.get_metric_history(child.info.run_id, metric)
            assert [m.step for m in history] == [100, 200, 300], metric
        images = [a.path for a in client.list_artifacts(child.info.run_id, "images") if a.path.endswith(".png")]
        assert len(images) == 3


def test_report_has_one_row_per_trial_and_embedded_images(finished_sweep):
    workdir, _, _ = finished_sweep
    html = (workdir / "reports" / "ring8.html").read_text()
    body = html.split("<tbody>")[1].split("</tbody>")[0]
    assert body.count("<tr>") == 2
    assert "model.dropout=0" in body and "model.dropout=0.3" in body
    for name in ("model.dropout=0", "model.dropout=0.3"):  # each trial's last sample picture, embedded
        picture = rf'src="data:image/png;base64,[A-Za-z0-9+/=]{{100,}}" alt="samples of {re.escape(name)} at'
        assert re.search(picture, html), name
    assert not re.search(r'(src|href)="https?://', html)  # self-contained: nothing fetched when opened
    floor_row = html.split('<tr class="floor">')[1].split("</tr>")[0]
    assert re.search(r"<td>[0-9.e-]+ &plusmn; [0-9.e-]+</td>", floor_row)  # the floor and its sd over real sets
    assert "standard deviation over 5 bootstrap resamples" in html


def test_report_command_rewrites_the_same_report(finished_sweep, tmp_path):
    workdir, uri, _ = finished_sweep
    out = tmp_path / "again.html"
    result = subprocess.run(
        [sys.executable, "-m", "pipeline.report", "ring8", "--tracking-uri", uri, "--out", str(out)],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert out.read_text().count("<tr>") == (workdir / "reports" / "ring8.html").read_text().count("<tr>")
    client = MlflowClient(uri)  # the report lives with the sweep: the parent run's artifact is the newest one
    parent = next(r for r in client.search_runs([client.get_experiment_by_name("ring8").experiment_id])
                  if r.data.tags.get("sweep.role") == "parent")
    assert [a.path for a in client.list_artifacts(parent.info.run_id, "report")] == ["report/ring8.html"]
    logged = Path(client.download_artifacts(parent.info.run_id, "report/ring8.html", str(tmp_path / "logged")))
    assert logged.read_text() == out.read_text()
    missing = subprocess.run(
        [sys.executable, "-m", "pipeline.report", "nosuchsweep", "--tracking-uri", uri],
        capture_output=True, text=True, timeout=120,
    )
    assert missing.returncode == 2 and "nosuchsweep" in missing.stderr


def test_sync_recovers_metrics_that_never_reached_mlflow(finished_sweep, tmp_path):
    import shutil
    import sqlite3

    workdir, _, _ = finished_sweep
    copy = tmp_path / "lossy.db"
    shutil.copy(workdir / "ml.db", copy)
    with sqlite3.connect(copy) as db:  # as if the server had been down for step 200 and 300 of every trial
        lost = db.execute("DELETE FROM metrics WHERE step >= 200 AND key IN ('fid', 'modes', 'loss_d')").rowcount
    assert lost == 2 * 2 * 3
    uri = f"sqlite:///{copy}"
    result = subprocess.run([sys.executable, "-m", "pipeline.sync", "ring8", "--tracking-uri", uri],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert f"{lost} metric values recovered in all" in result.stdout
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("ring8")
    for run in client.search_runs([experiment.experiment_id], "tags.`sweep.role` = 'trial'"):
        for key in ("fid", "modes", "loss_d"):
            assert [m.step for m in client.get_metric_history(run.info.run_id, key)] == [100, 200, 300]
    again = subprocess.run([sys.executable, "-m", "pipeline.sync", "ring8", "--tracking-uri", uri],
                           capture_output=True, text=True, timeout=120)
    assert "0 metric values recovered in all" in again.stdout
