"""A local 2-node Ray cluster (cluster/local.sh's layout, on loopback): trials spread over both nodes,
and a worker node stopped mid-sweep loses no trial."""

import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from mlflow.tracking import MlflowClient

from pipeline import metric_names as names
from pipeline.run_keys import NODE_TAG, STATUS_TAG

from .conftest import ROOT, SEARCH_SPACES

pytestmark = pytest.mark.e2e
LOOPBACK_CLUSTER = {**os.environ, "RAY_AUTH_MODE": "disabled"}  # as cluster/local.sh


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def two_node_cluster():
    port = free_port()
    subprocess.run(["ray", "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port), "--num-cpus", "1",
                    "--include-dashboard", "false", "--disable-usage-stats"],
                   env=LOOPBACK_CLUSTER, check=True, capture_output=True, timeout=120)
    worker = subprocess.Popen(  # --block: this process owns the node, so the test can take it away
        ["ray", "start", "--address", f"127.0.0.1:{port}", "--node-ip-address", "127.0.0.1", "--num-cpus", "1",
         "--disable-usage-stats", "--block"],
        env=LOOPBACK_CLUSTER, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    time.sleep(8)  # the worker node registers with the head
    yield f"127.0.0.1:{port}", worker
    if worker.poll() is None:
        os.killpg(worker.pid, signal.SIGKILL)
    subprocess.run(["ray", "stop", "--force"], env=LOOPBACK_CLUSTER, capture_output=True, timeout=120)


def test_local_sh_is_valid_bash():
    assert subprocess.run(["bash", "-n", str(ROOT / "cluster" / "local.sh")]).returncode == 0


def test_worker_node_lost_mid_sweep_loses_no_trial(two_node_cluster, tmp_path):
    address, worker = two_node_cluster
    uri = f"sqlite:///{tmp_path / 'ml.db'}"
    sweep = subprocess.Popen(
        [sys.executable, "-m", "pipeline.sweep", str(SEARCH_SPACES / "ring8.yaml"), "--address", address,
         "--tracking-uri", uri, "--set", "trial.train.steps=1500", "--set", "trial.train.eval_every=250",
         "--set", "trial.eval.samples=500", "--set", "parameters={model.dropout: {grid: [0.0, 0.3]}}"],
        cwd=tmp_path, env=LOOPBACK_CLUSTER, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    client = MlflowClient(uri)
    deadline = time.monotonic() + 300
    nodes: set[str] = set()
    while time.monotonic() < deadline and sweep.poll() is None:  # both trials running, one on each node
        experiment = client.get_experiment_by_name("ring8") if (tmp_path / "ml.db").exists() else None
        runs = client.search_runs([experiment.experiment_id], "tags.`sweep.role` = 'trial'") if experiment else []
        nodes = {r.data.tags.get(NODE_TAG) for r in runs} - {None}
        if len(nodes) == 2 and all(len(client.get_metric_history(r.info.run_id, names.FID)) >= 2 for r in runs):
            break
        time.sleep(0.5)
    assert len(nodes) == 2, "the trials did not spread over both nodes"
    os.killpg(worker.pid, signal.SIGKILL)  # the worker node and its trial's process die at once
    output, _ = sweep.communicate(timeout=600)
    assert sweep.returncode == 0, output[-4000:]
    runs = client.search_runs([experiment.experiment_id], "tags.`sweep.role` = 'trial'")
    assert len(runs) == 2  # the restarted trial continued its own run
    assert len({r.data.tags[NODE_TAG] for r in runs}) == 1  # ... on the head, the one node left
    for run in runs:
        assert run.data.tags[STATUS_TAG] == "finished"
        steps = {m.step for m in client.get_metric_history(run.info.run_id, names.FID)}
        assert steps == set(range(250, 1501, 250))
