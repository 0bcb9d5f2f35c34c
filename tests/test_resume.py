"""The sweep's driver killed mid-sweep, then `--resume`: the sweep completes under the same parent run,
and the trial that had finished does not run again."""

import subprocess
import sys
import time

import pytest

from pipeline.spec import metric_names as names
from pipeline.tracking.keys import STATUS_TAG

from .conftest import SEARCH_SPACES, created_store, kill_session, trial_runs

pytestmark = pytest.mark.e2e
OVERRIDES = ["trial.train.steps=600", "trial.train.eval_every=200", "trial.eval.samples=500",
             "parameters={model.dropout: {grid: [0.0, 0.3]}}", "search.max_concurrent=1"]


def sweep_command(uri, *extra):
    command = [sys.executable, "-m", "pipeline.sweep", str(SEARCH_SPACES / "ring8.yaml"), "--tracking-uri", uri]
    for override in OVERRIDES:
        command += ["--set", override]
    return command + list(extra)


def test_killed_driver_then_resume(tmp_path):
    uri = f"sqlite:///{tmp_path / 'ml.db'}"
    client = created_store(uri)
    driver = subprocess.Popen(sweep_command(uri), cwd=tmp_path, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and driver.poll() is None:  # one trial done, the other under way
        runs = trial_runs(client, "ring8") if client.get_experiment_by_name("ring8") else []
        done = [r for r in runs if r.data.tags.get(STATUS_TAG) == "finished"]
        going = [r for r in runs if STATUS_TAG not in r.data.tags]
        if done and going and client.get_metric_history(going[0].info.run_id, names.FID):
            break
        time.sleep(0.3)
    assert driver.poll() is None, "the sweep ended before it could be interrupted"
    kill_session(driver.pid)  # the driver and the local Ray it started, as a crash or `kill -9` would
    driver.wait()
    (finished,) = done
    history_before = [m.step for m in client.get_metric_history(finished.info.run_id, names.FID)]

    result = subprocess.run(sweep_command(uri, "--resume"), cwd=tmp_path, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "resuming experiment 'ring8'" in result.stdout
    runs = trial_runs(client, "ring8")
    assert len(runs) == 2 and all(r.data.tags[STATUS_TAG] == "finished" for r in runs)
    assert [m.step for m in client.get_metric_history(finished.info.run_id, names.FID)] == history_before
    for run in runs:
        assert {m.step for m in client.get_metric_history(run.info.run_id, names.FID)} == {200, 400, 600}
    parents = [r for r in client.search_runs([finished.info.experiment_id]) if r.info.run_id != finished.info.run_id
               and "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
