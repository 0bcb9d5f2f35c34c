"""Many runs' metric histories in few requests (GetMetricHistoryBulkInterval) read the same points as the
client's one-run-one-metric reads, against a real `mlflow server` on loopback; a history too long for
one answer is read whole."""

from __future__ import annotations

import pandas as pd
import pytest
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from pipeline.tracking import metric_history as reads
from pipeline.tracking.metric_history import BULK_POINTS, metric_histories, metric_history

from .conftest import free_port
from .servers import MlflowServer

pytestmark = pytest.mark.e2e  # a real mlflow server: not in the fast lane


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = MlflowServer(tmp_path_factory.mktemp("bulk"), free_port())
    server.start()
    yield server
    server.stop()


def logged_runs(client: MlflowClient, count: int) -> list[str]:
    experiment = client.create_experiment(f"bulk-{count}")
    run_ids = []
    for number in range(count):
        run_id = client.create_run(experiment).info.run_id
        metrics = [Metric("fid", 100.0 / (step + number + 1), step, step) for step in (0, 50, 100)]
        metrics.append(Metric("fid", 7.0 + number, 10**6, 100))  # the step logged again later (a restarted trial)
        if number % 2:
            metrics.append(Metric("kid", 0.1 * number, 0, 50))  # half the runs log a second metric
        client.log_batch(run_id, metrics=metrics)
        run_ids.append(run_id)
    return run_ids


def test_bulk_reads_match_one_run_reads_in_one_request_per_100_runs(server, monkeypatch):
    client = MlflowClient(server.uri)
    run_ids = logged_runs(client, 130)
    requests = []
    bulk = reads.bulk_points
    monkeypatch.setattr(reads, "bulk_points", lambda *args: requests.append(args) or bulk(*args))
    frames = metric_histories(server.uri, run_ids, ["fid", "kid"])
    assert len(requests) == 4  # 130 runs: two requests for each of the two metrics
    for number, run_id in enumerate(run_ids):
        one = metric_history(client, run_id, ["fid", "kid"])
        pd.testing.assert_frame_equal(frames[run_id], one)
        assert frames[run_id].set_index("step")["fid"][100] == 7.0 + number  # the later value of step 100


def test_a_history_longer_than_one_answer_is_read_whole(server):
    client = MlflowClient(server.uri)
    experiment = client.create_experiment("long")
    run_id = client.create_run(experiment).info.run_id
    steps = range(BULK_POINTS + 500)
    values = [1.0 + (step % 97) for step in steps]
    values[BULK_POINTS + 123] = 0.5  # the run's best, where an even sample would skip it
    for start in range(0, len(values), 1000):
        client.log_batch(run_id, metrics=[Metric("fid", values[step], 0, step) for step in steps[start:start + 1000]])
    frame = metric_histories(server.uri, [run_id], ["fid"])[run_id]
    assert len(frame) == len(values) and frame["fid"].min() == 0.5


def test_local_stores_read_the_same_frames(tmp_path):
    uri = f"sqlite:///{tmp_path / 'ml.db'}"
    client = MlflowClient(uri)
    run_ids = logged_runs(client, 3)
    frames = metric_histories(uri, run_ids, ["fid", "kid"])
    assert [len(frames[run_id]) for run_id in run_ids] == [3, 3, 3]
    assert "kid" not in frames[run_ids[0]] and frames[run_ids[1]]["kid"].dropna().tolist() == [0.1]
