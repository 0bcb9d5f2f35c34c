"""Faults a real cluster has, on hosts with their own addresses (network namespaces, tests/network.py):
a Ray head and two worker nodes, and an MLflow server on PostgreSQL, each on its own host, the sweep run
as cluster/README.md says (`--address`, `--tracking-uri`, a shared `--storage-path`). One sweep meets,
in turn: a worker node cut off (its trial goes on as a zombie while Ray declares the node dead and Tune
restarts the trial elsewhere; then the link comes back), the tracking host cut off, and PostgreSQL
restarted under the MLflow server. Every trial's run must end complete, with one value per step and
nothing of the zombie's written after its successor took over.

    python -m pytest tests/test_cluster_faults.py -s     # -s prints each phase's timing
"""

from __future__ import annotations

import json
import os
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
STEPS, EVAL_EVERY = 3000, 250  # 12 evaluations: long enough for all three faults mid-trial


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


def trial_runs(client: MlflowClient) -> list:
    experiment = client.get_experiment_by_name("ring8")
    if experiment is None:
        return []
    return client.search_runs([experiment.experiment_id], f"tags.`{ROLE_TAG}` = '{ROLE_TRIAL}'")


def fid_points(client: MlflowClient, run_id: str) -> list:
    return client.get_metric_history(run_id, names.FID)


def test_a_partitioned_node_a_cut_tracking_host_and_a_database_restart_lose_nothing(cluster):
    net, head, workers, db, server, root = cluster
    client = MlflowClient(server.uri)
    phases = Phases()
    sweep = head.spawn(
        [sys.executable, "-m", "pipeline.sweep", str(SEARCH_SPACES / "ring8.yaml"), "--address",
         f"{head.address}:{RAY_PORT}", "--tracking-uri", server.uri, "--storage-path", str(root / "shared"),
         "--set", f"trial.train.steps={STEPS}", "--set", f"trial.train.eval_every={EVAL_EVERY}",
         "--set", "trial.eval.samples=500", "--set", "parameters={model.dropout: {grid: [0.0, 0.3]}}"],
        root / "sweep.log", env=CLUSTER_ENV, cwd=root)

    # 1. A worker node that holds a trial loses its link mid-trial.
    by_address = {worker.address: worker for worker in workers}
    victim: list = []

    def a_worker_trial_has_evaluated() -> bool:
        assert sweep.poll() is None, (root / "sweep.log").read_text()[-4000:]
        for run in trial_runs(client):
            if run.data.tags.get(NODE_IP_TAG) in by_address and fid_points(client, run.info.run_id):
                victim[:] = [run]
                return True
        return False

    wait_until(a_worker_trial_has_evaluated, "a trial on a worker node evaluated once", timeout=400, every=1)
    run, cut_host = victim[0], by_address[victim[0].data.tags[NODE_IP_TAG]]
    first_attempt = run.data.tags[ATTEMPT_TAG]
    net.cut(cut_host)
    phases.mark(f"cut {cut_host.name}; its trial's run {run.info.run_id[:8]} held "
                f"{len(fid_points(client, run.info.run_id))} evaluations")
    address = f"{head.address}:{RAY_PORT}"
    wait_until(lambda: live_nodes(head, address) == 2, "Ray declaring the cut node dead", timeout=120, every=1)
    phases.mark("Ray declared the node dead")
    taken = lambda: client.get_run(run.info.run_id).data.tags[ATTEMPT_TAG] != first_attempt  # noqa: E731
    wait_until(taken, "the trial restarted elsewhere, its new attempt owning the run", timeout=300, every=1)
    phases.mark("the restarted trial took over its run")
    seen = len(fid_points(client, run.info.run_id))
    wait_until(lambda: len(fid_points(client, run.info.run_id)) > seen, "the successor's first evaluation",
               timeout=300, every=1)
    phases.mark("the successor logged an evaluation")
    net.restore(cut_host)
    phases.mark(f"restored {cut_host.name}'s link: the zombie can reach MLflow again")

    # 2. The tracking host is cut off for longer than a trial's HTTP timeout, then comes back.
    net.cut(server.host)
    phases.mark("cut the tracking host")
    time.sleep(30)
    net.restore(server.host)
    phases.mark("restored the tracking host")

    # 3. PostgreSQL restarts under the MLflow server while trials log.
    db.restart()
    phases.mark("restarted PostgreSQL")

    assert sweep.wait(timeout=900) == 0, (root / "sweep.log").read_text()[-6000:]
    phases.mark("the sweep ended")
    runs = trial_runs(client)
    assert len(runs) == 2, "a restarted trial continues its own run"
    for each in runs:
        assert each.info.status == "FINISHED" and each.data.tags[STATUS_TAG] == "finished"
        values_by_step = defaultdict(set)
        for point in fid_points(client, each.info.run_id):
            values_by_step[point.step].add(point.value)
        assert sorted(values_by_step) == list(range(EVAL_EVERY, STEPS + 1, EVAL_EVERY)), "a step is missing"
        assert all(len(values) == 1 for values in values_by_step.values()), f"a step with two values: {values_by_step}"
    cut_run = client.get_run(run.info.run_id)
    assert cut_run.data.tags[ATTEMPT_TAG] != first_attempt
    assert cut_run.data.tags[NODE_IP_TAG] != cut_host.address
    held = [item.path for item in client.list_artifacts(run.info.run_id, STALE_FOLDER)]
    record = (json.loads((Path(client.download_artifacts(run.info.run_id, held[0], str(root)))).read_text())
              if held else None)
    print(json.dumps({"phases": phases.times, "zombie held back": record}, indent=1))
