"""A 2-worker data-parallel trial through Ray Tune + Ray Train (gloo on CPU), as a user runs it:
the spec's GPU request falls back to CPU with a warning, one Train worker process is killed
mid-training, the worker group restarts from the last checkpoint, and the trial still ends with
exactly one MLflow run holding every evaluation. And `--require-gpu` refuses a GPU-less cluster."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from mlflow.tracking import MlflowClient

from pipeline.spec import metric_names as names
from pipeline.tracking.keys import STATUS_TAG
from pipeline.tracking.trial_runs import CHECKPOINT_ARTIFACT

from .conftest import SEARCH_SPACES, created_store

pytestmark = pytest.mark.e2e
STEPS, EVAL_EVERY = 120, 20


def train_worker_pids() -> list[int]:
    """Ray names its actor processes after their class: Ray Train's are `ray::RayTrainWorker...`."""
    listing = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout
    return [int(line.split()[0]) for line in listing.splitlines() if "ray::RayTrainWorker" in line]


def committed_checkpoint_step(workdir: Path) -> int:
    """The step of the latest checkpoint Ray Train has committed (what a restart resumes from); 0 if none."""
    for snapshot in workdir.glob("ray_results/*/train-*/checkpoint_manager_snapshot.json"):
        latest = json.loads(snapshot.read_text())["latest_checkpoint_result"]
        return latest["metrics"][names.STEP] if latest else 0
    return 0


def fid_steps(client: MlflowClient, run_id: str) -> list[int]:
    return [m.step for m in client.get_metric_history(run_id, names.FID)]


def test_two_worker_trial_survives_a_killed_worker_in_one_run(tmp_path):
    uri = f"sqlite:///{tmp_path / 'ml.db'}"
    client = created_store(uri)
    sweep = subprocess.Popen(
        [sys.executable, "-m", "pipeline.sweep", str(SEARCH_SPACES / "ring8.yaml"), "--tracking-uri", uri,
         "--set", f"trial.train.steps={STEPS}", "--set", f"trial.train.eval_every={EVAL_EVERY}",
         "--set", "trial.eval.samples=300", "--set", "resources.workers_per_trial=2",
         "--set", "resources.cpus_per_worker=0.5",  # 2 workers and the Tune trial driving them fit 2 cores
         "--set", "resources.gpus_per_worker=1",  # the machines running the tests have no GPU: CPU it is
         "--set", "parameters={model.dropout: {grid: [0.0]}}"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    deadline, runs = time.monotonic() + 300, []
    while time.monotonic() < deadline and sweep.poll() is None:  # until Train has committed a checkpoint
        experiment = client.get_experiment_by_name("ring8")
        runs = client.search_runs([experiment.experiment_id], "tags.`sweep.role` = 'trial'") if experiment else []
        if runs and committed_checkpoint_step(tmp_path) > 0:
            break
        time.sleep(0.3)
    pids = train_worker_pids()
    if not (runs and len(pids) == 2):
        exit_code = sweep.poll()  # None: still running at the deadline
        sweep.kill()  # what the sweep printed is the only clue to why no trial was running
        pytest.fail(f"no 2-worker trial running: {len(runs)} runs, workers {pids}, sweep exit code "
                    f"{exit_code}; the sweep printed:\n{sweep.communicate()[0][-6000:]}")
    resume_step = committed_checkpoint_step(tmp_path)
    assert 0 < resume_step < STEPS
    os.kill(pids[-1], signal.SIGKILL)
    output, _ = sweep.communicate(timeout=600)
    assert sweep.returncode == 0, output[-4000:]
    assert "[FailurePolicy] RETRY" in output, "Ray Train did not restart the worker group"
    assert "the Ray cluster has no GPU: running on CPU" in output

    runs = client.search_runs([experiment.experiment_id], "tags.`sweep.role` = 'trial'")
    assert len(runs) == 1  # only rank 0 logs, and the restarted group continued the same run
    run = runs[0]
    assert run.data.tags[STATUS_TAG] == "finished"
    steps = fid_steps(client, run.info.run_id)
    assert set(steps) == set(range(EVAL_EVERY, STEPS + 1, EVAL_EVERY))  # no step lost
    assert all(steps.count(step) == 1 for step in range(EVAL_EVERY, resume_step + 1, EVAL_EVERY))  # not from 0
    assert run.data.params["train.batch_size"] == "256"  # the global batch, as the spec says
    checkpoint = torch.load(client.download_artifacts(run.info.run_id, CHECKPOINT_ARTIFACT, str(tmp_path)),
                            weights_only=False)
    assert checkpoint["step"] == STEPS


def test_require_gpu_refuses_a_cluster_without_gpus(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "pipeline.sweep", str(SEARCH_SPACES / "ring8.yaml"), "--require-gpu",
         "--tracking-uri", f"sqlite:///{tmp_path / 'ml.db'}", "--set", "resources.gpus_per_worker=0.5"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode != 0
    assert "asks for 0.5 GPU per worker, the Ray cluster has none (--require-gpu)" in result.stderr
