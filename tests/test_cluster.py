"""A local 2-node Ray cluster (cluster/local.sh's layout, on loopback): trials spread over both nodes,
and a worker node stopped mid-sweep loses no trial; then a trial too big for the node left is refused."""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import pytest

from pipeline.spec import metric_names as names
from pipeline.tracking.keys import NODE_TAG, STATUS_TAG

from .conftest import ROOT, SEARCH_SPACES, created_store, free_port, kill_session, wait_until

pytestmark = pytest.mark.e2e
LOOPBACK_CLUSTER = {**os.environ, "RAY_AUTH_MODE": "disabled"}  # as cluster/local.sh


def start_node(*args: str) -> subprocess.Popen:
    """`ray start ... --block` in a session of its own: the node lives as long as this process, and
    killing the session takes the node away (or tears it down) without touching other Ray instances."""
    return subprocess.Popen(["ray", "start", *args, "--node-ip-address", "127.0.0.1", "--num-cpus", "1",
                             "--disable-usage-stats", "--block"], env=LOOPBACK_CLUSTER,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def active_nodes(address: str) -> int:
    """How many nodes the head counts as active (`ray status`, which reads the head's GCS)."""
    status = subprocess.run(["ray", "status", "--address", address], env=LOOPBACK_CLUSTER, capture_output=True,
                            text=True, timeout=60)
    return status.stdout.split("Pending:")[0].count("node_")


@pytest.fixture
def two_node_cluster():
    port = free_port()
    # Its own temp dir: `ray start --head` records its address there, where a plain ray.init() of a
    # test running beside this one (pytest-xdist) would otherwise find it and join this cluster.
    temp_dir = tempfile.mkdtemp(prefix="ray-c", dir="/tmp")  # short: Ray's socket paths live under it
    head = start_node("--head", "--port", str(port), "--include-dashboard", "false", "--temp-dir", temp_dir)
    wait_until(lambda: listening(port), f"the Ray head listening on port {port}", timeout=120)
    worker = start_node("--address", f"127.0.0.1:{port}")
    address = f"127.0.0.1:{port}"
    wait_until(lambda: active_nodes(address) == 2, "the worker node registered with the head", timeout=120, every=1)
    yield address, worker
    for node in (worker, head):
        kill_session(node.pid)
        node.wait()
    shutil.rmtree(temp_dir, ignore_errors=True)


def test_local_sh_is_valid_bash():
    assert subprocess.run(["bash", "-n", str(ROOT / "cluster" / "local.sh")]).returncode == 0


def test_worker_node_lost_mid_sweep_loses_no_trial(two_node_cluster, tmp_path):
    address, worker = two_node_cluster
    uri = f"sqlite:///{tmp_path / 'ml.db'}"
    client = created_store(uri)
    sweep = subprocess.Popen(
        [sys.executable, "-m", "pipeline.sweep", str(SEARCH_SPACES / "ring8.yaml"), "--address", address,
         "--tracking-uri", uri, "--set", "trial.train.steps=1500", "--set", "trial.train.eval_every=250",
         "--set", "trial.eval.samples=500", "--set", "parameters={model.dropout: {grid: [0.0, 0.3]}}"],
        cwd=tmp_path, env=LOOPBACK_CLUSTER, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    deadline = time.monotonic() + 300
    nodes: set[str] = set()
    while time.monotonic() < deadline and sweep.poll() is None:  # both trials running, one on each node
        experiment = client.get_experiment_by_name("ring8")
        runs = client.search_runs([experiment.experiment_id], "tags.`sweep.role` = 'trial'") if experiment else []
        nodes = {r.data.tags.get(NODE_TAG) for r in runs} - {None}
        if len(nodes) == 2 and all(len(client.get_metric_history(r.info.run_id, names.FID)) >= 2 for r in runs):
            break
        time.sleep(0.5)
    assert len(nodes) == 2, "the trials did not spread over both nodes"
    kill_session(worker.pid)  # the worker node and its trial's process die at once
    output, _ = sweep.communicate(timeout=600)
    assert sweep.returncode == 0, output[-4000:]
    runs = client.search_runs([experiment.experiment_id], "tags.`sweep.role` = 'trial'")
    assert len(runs) == 2  # the restarted trial continued its own run
    assert len({r.data.tags[NODE_TAG] for r in runs}) == 1  # ... on the head, the one node left
    for run in runs:
        assert run.data.tags[STATUS_TAG] == "finished"
        steps = {m.step for m in client.get_metric_history(run.info.run_id, names.FID)}
        assert steps == set(range(250, 1501, 250))

    # The one node left (1 CPU) can never hold a 2-worker trial, and this cluster has no autoscaler:
    # after --wait-for-resources the sweep stops with the spec's keys and a setting that fits.
    refused = subprocess.run(
        [sys.executable, "-m", "pipeline.sweep", str(SEARCH_SPACES / "ring8.yaml"), "--address", address,
         "--tracking-uri", uri, "--wait-for-resources", "3", "--set", "resources.workers_per_trial=2",
         "--set", "resources.cpus_per_worker=1"],
        cwd=tmp_path, env=LOOPBACK_CLUSTER, capture_output=True, text=True, timeout=300,
    )
    assert refused.returncode == 2, refused.stdout[-3000:] + refused.stderr[-3000:]
    assert "more for nodes (--wait-for-resources)" in refused.stdout
    assert ("resources.workers_per_trial, resources.cpus_per_worker: one trial needs 2.1 CPU (2 worker(s) x 1 CPU, "
            "+ 0.1 CPU for the Tune trial driving them), but 1 CPU on 1 node can never hold it; a setting that fits: "
            "resources.cpus_per_worker: 0.25") in refused.stderr
    assert f"the Ray cluster at {address}, which has no autoscaler, after 3 s of --wait-for-resources" in refused.stderr
    assert len(client.search_runs([experiment.experiment_id])) == 3  # no run for the refused sweep
