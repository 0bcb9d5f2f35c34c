"""Faults a real cluster has, on hosts with their own addresses (network namespaces, tests/network.py):
a Ray head and two worker nodes, and an MLflow server on PostgreSQL, each on its own host, the sweep run
as cluster/README.md says (`--address`, `--tracking-uri`, a shared `--storage-path`). One sweep meets,
in turn: a worker node cut off (its trial goes on as a zombie while Ray declares the node dead and Tune
restarts the trial elsewhere; then the link comes back), the tracking host cut off, and PostgreSQL
restarted under the MLflow server. A second sweep has a worker cut off from Ray but not from MLflow, the
zombie that lives longest. Every trial's run must end complete, with one value per step of every metric
(system metrics too) and nothing of the zombie's written after its successor took over.

    python -m pytest tests/test_cluster_faults.py -s     # -s prints each phase's timing
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from pipeline.spec import metric_names as names
from pipeline.tracking.keys import ATTEMPT_TAG, NODE_IP_TAG, ROLE_TAG, ROLE_TRIAL, STALE_FOLDER, STATUS_TAG

from .conftest import SEARCH_SPACES, wait_until
from .network import Host, TestNetwork, namespaces_refused
from .servers import MlflowServer, PostgresServer, postgres_binaries

pytestmark = pytest.mark.e2e

RAY_PORT, MLFLOW_PORT = 6379, 5000
# Ray's head declares a node dead after this many missed health checks, one a second (its defaults:
# 5 s apart, 5 misses): a test-sized wait for what a cluster sees after 30 s or so.
FAST_FAILURE_DETECTION = {"RAY_health_check_period_ms": "1000", "RAY_health_check_timeout_ms": "1000",
                          "RAY_health_check_failure_threshold": "5"}
CLUSTER_ENV = {**os.environ, "RAY_AUTH_MODE": "disabled", **FAST_FAILURE_DETECTION}
STEPS, EVAL_EVERY = 2500, 250  # 10 evaluations: long enough for all three faults mid-trial


def refusal() -> str | None:
    reason = namespaces_refused() or (None if postgres_binaries() else "Debian's postgresql is not installed")
    if reason and os.environ.get("CI"):
        pytest.fail(f"CI must run the multi-host tests, but {reason}")
    return reason


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """The hosts and their servers, all stopped and removed when the module ends, passed or not."""
    if reason := refusal():
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("faults")
    with TestNetwork() as net:
        tracking, head, *workers = (net.add_host(name) for name in ("tracking", "head", "w1", "w2"))
        db = PostgresServer(tracking)
        try:
            db.start()
            server = MlflowServer(root, MLFLOW_PORT, backend_uri=db.uri, host=tracking, workers=2)
            server.start()
            address = f"{head.address}:{RAY_PORT}"
            start_ray(head, root, "--head", "--port", str(RAY_PORT), "--include-dashboard", "false")
            for worker in workers:
                start_ray(worker, root, "--address", address)
            wait_until(lambda: live_nodes(head, address) == 3, "three Ray nodes registered", timeout=180, every=2)
            yield net, head, workers, db, server, root
        finally:
            db.remove()


def start_ray(host: Host, root: Path, *args: str) -> None:
    # its own temp dir: the hosts share one filesystem, and Ray keeps its sockets under it
    temp_dir = tempfile.mkdtemp(prefix=f"ray-{host.name}-", dir="/tmp")
    host.spawn(["ray", "start", *args, "--node-ip-address", host.address, "--num-cpus", "1", "--temp-dir", temp_dir,
                "--disable-usage-stats", "--block"], root / f"ray-{host.name}.log", env=CLUSTER_ENV)


def live_nodes(head: Host, address: str) -> int:
    status = head.run(["ray", "status", "--address", address], env=CLUSTER_ENV, timeout=60)
    return status.stdout.split("Pending:")[0].count("node_")


class Phases:
    """When each thing happened, in seconds from the sweep's start; printed at the end."""

    def __init__(self) -> None:
        self.start, self.times = time.monotonic(), {}

    def mark(self, what: str) -> None:
        self.times[what] = round(time.monotonic() - self.start, 1)
        print(f"[{self.times[what]:7.1f} s] {what}", flush=True)


def trial_runs(client: MlflowClient, name: str) -> list:
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        return []
    return client.search_runs([experiment.experiment_id], f"tags.`{ROLE_TAG}` = '{ROLE_TRIAL}'")


def fid_points(client: MlflowClient, run_id: str) -> list:
    return client.get_metric_history(run_id, names.FID)


def start_sweep(head: Host, server: MlflowServer, root: Path, name: str) -> subprocess.Popen:
    return head.spawn(
        [sys.executable, "-m", "pipeline.sweep", str(SEARCH_SPACES / "ring8.yaml"), "--address",
         f"{head.address}:{RAY_PORT}", "--tracking-uri", server.uri, "--storage-path", str(root / "shared"),
         "--experiment", name, "--set", f"trial.train.steps={STEPS}", "--set", f"trial.train.eval_every={EVAL_EVERY}",
         "--set", "trial.eval.samples=500", "--set", "parameters={model.dropout: {grid: [0.0, 0.3]}}"],
        root / f"{name}.log", env=CLUSTER_ENV, cwd=root)


def worker_trial(client: MlflowClient, name: str, workers: list[Host], sweep, log: Path):
    """(the run of a trial on a worker node once it has evaluated, that node), waiting for one."""
    by_address = {worker.address: worker for worker in workers}
    found: list = []

    def evaluated() -> bool:
        assert sweep.poll() is None, log.read_text()[-4000:]
        for run in trial_runs(client, name):
            if run.data.tags.get(NODE_IP_TAG) in by_address and fid_points(client, run.info.run_id):
                found[:] = [run, by_address[run.data.tags[NODE_IP_TAG]]]
                return True
        return False

    wait_until(evaluated, "a trial on a worker node evaluated once", timeout=400, every=1)
    return found


def wait_for_takeover(client: MlflowClient, run, head: Host, live: int, phases: Phases) -> None:
    """Ray declares the node dead, Tune restarts the trial elsewhere, its new attempt owns the run and logs."""
    address, first_attempt = f"{head.address}:{RAY_PORT}", run.data.tags[ATTEMPT_TAG]
    wait_until(lambda: live_nodes(head, address) == live, "Ray declaring the node dead", timeout=120, every=1)
    phases.mark("Ray declared the node dead")
    taken = lambda: client.get_run(run.info.run_id).data.tags[ATTEMPT_TAG] != first_attempt  # noqa: E731
    wait_until(taken, "the trial restarted elsewhere, its new attempt owning the run", timeout=300, every=1)
    phases.mark("the restarted trial took over its run")
    seen = len(fid_points(client, run.info.run_id))
    wait_until(lambda: len(fid_points(client, run.info.run_id)) > seen, "the successor's first evaluation",
               timeout=300, every=1)
    phases.mark("the successor logged an evaluation")


def assert_complete(client: MlflowClient, name: str, cut_run, cut_host: Host, root: Path) -> dict | None:
    """Every trial finished, each metric (system metrics too) one value per step, every evaluation there;
    the cut trial's run owned by its successor on another node. Returns what the zombie held back."""
    runs = trial_runs(client, name)
    assert len(runs) == 2, "a restarted trial continues its own run"
    for run in runs:
        assert run.info.status == "FINISHED" and run.data.tags[STATUS_TAG] == "finished"
        for key in run.data.metrics:
            values_by_step = defaultdict(set)
            for point in client.get_metric_history(run.info.run_id, key):
                values_by_step[point.step].add(point.value)
            doubled = {step: sorted(values) for step, values in values_by_step.items() if len(values) > 1}
            assert not doubled, f"{key}: steps written twice with different values: {dict(list(doubled.items())[:5])}"
            if key == names.FID:
                assert sorted(values_by_step) == list(range(EVAL_EVERY, STEPS + 1, EVAL_EVERY)), "a step is missing"
    after = client.get_run(cut_run.info.run_id)
    assert after.data.tags[ATTEMPT_TAG] != cut_run.data.tags[ATTEMPT_TAG]
    assert after.data.tags[NODE_IP_TAG] != cut_host.address
    held = [item.path for item in client.list_artifacts(cut_run.info.run_id, STALE_FOLDER)]
    return json.loads(Path(client.download_artifacts(cut_run.info.run_id, held[0], str(root))).read_text()) \
        if held else None


def test_a_partitioned_node_a_cut_tracking_host_and_a_database_restart_lose_nothing(cluster):
    net, head, workers, db, server, root = cluster
    client, phases = MlflowClient(server.uri), Phases()
    sweep = start_sweep(head, server, root, "partition")
    # 1. A worker node that holds a trial loses its link mid-trial, for longer than Ray's failure detection.
    run, cut_host = worker_trial(client, "partition", workers, sweep, root / "partition.log")
    net.cut(cut_host)
    phases.mark(f"cut {cut_host.name}; its trial's run held {len(fid_points(client, run.info.run_id))} evaluations")
    wait_for_takeover(client, run, head, 2, phases)
    net.restore(cut_host)
    phases.mark(f"restored {cut_host.name}'s link: the zombie can reach MLflow again")
    # 2. The tracking host is cut off for longer than a trial's HTTP timeout, then comes back.
    net.cut(server.host)
    phases.mark("cut the tracking host")
    time.sleep(25)  # a trial's HTTP timeout is 20 s: its calls fail and are kept
    net.restore(server.host)
    phases.mark("restored the tracking host")
    # 3. PostgreSQL restarts under the MLflow server while trials log.
    db.restart()
    phases.mark("restarted PostgreSQL")
    assert sweep.wait(timeout=900) == 0, (root / "partition.log").read_text()[-6000:]
    phases.mark("the sweep ended")
    held = assert_complete(client, "partition", run, cut_host, root)
    print(json.dumps({"phases": phases.times, "zombie held back": held}, indent=1))
    rejoin(cut_host, head, root)  # Ray ended the cut node's raylet when its link came back: the next test needs it


def rejoin(host: Host, head: Host, root: Path) -> None:
    start_ray(host, root, "--address", f"{head.address}:{RAY_PORT}")
    address = f"{head.address}:{RAY_PORT}"
    wait_until(lambda: live_nodes(head, address) == 3, f"{host.name} back in the cluster", timeout=180, every=2)


def test_a_node_cut_off_from_ray_but_not_from_mlflow_stops_writing_once_its_trial_moved(cluster):
    """The zombie that outlives its node's loss the longest: Ray's head and the other nodes cannot reach it,
    MLflow can, so it goes on sampling system metrics into its run while its successor does too. The
    fence: it stops once the run's attempt tag names the successor, and records what it held back."""
    net, head, workers, _, server, root = cluster
    client, phases = MlflowClient(server.uri), Phases()
    sweep = start_sweep(head, server, root, "ray-partition")
    run, cut_host = worker_trial(client, "ray-partition", workers, sweep, root / "ray-partition.log")
    others = [head, *(worker for worker in workers if worker is not cut_host)]
    net.separate(cut_host, others)
    phases.mark(f"separated {cut_host.name} from the Ray head and the other worker (MLflow still reachable)")
    wait_for_takeover(client, run, head, 2, phases)
    time.sleep(12)  # two of the zombie's system-metrics samples (SYSTEM_METRICS_INTERVAL_S)
    net.separate(cut_host, others, heal=True)
    phases.mark("healed the partition")
    assert sweep.wait(timeout=900) == 0, (root / "ray-partition.log").read_text()[-6000:]
    phases.mark("the sweep ended")
    held = assert_complete(client, "ray-partition", run, cut_host, root)
    print(json.dumps({"phases": phases.times, "zombie held back": held}, indent=1))
    assert held is not None and "system metrics" in held["calls"], "the zombie never met the fence"
    rejoin(cut_host, head, root)
