"""Metric histories read back from MLflow: one run's, or many runs' in as few round trips as the
tracking server allows.

    frame = metric_history(client, run_id, ["fid", "kid"])           # columns step, fid, kid
    frames = metric_histories(uri, run_ids, ["fid"])                  # run_id -> such a frame

MLflow's Python client reads one run's history of one metric per request. Over HTTP, a report of
1,000 trials would be 1,000 requests per metric; the server's REST API has one batched read,
GetMetricHistoryBulkInterval (`/api/2.0/mlflow/metrics/get-history-bulk-interval`: up to 100 runs a
request, up to 2,500 points a run), which `metric_histories` uses. A local store (SQLite, a folder)
is read in-process, one query per run and metric, with no round trip to save.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pandas as pd
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient
from mlflow.utils.credentials import get_default_host_creds
from mlflow.utils.rest_utils import http_request_safe

BULK_ENDPOINT = "/api/2.0/mlflow/metrics/get-history-bulk-interval"
BULK_RUNS = 100  # the server refuses more run ids in one request
BULK_POINTS = 2500  # the most points a run gets in one answer: a run that fills it is read whole on its own


def is_http(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def as_frame(points: dict[str, list[tuple[int, int, float]]]) -> pd.DataFrame:
    """{key: [(timestamp, step, value)]} as one row per step, one column per key; a value logged twice at a
    step (a restarted trial) counts once, the later one."""
    columns = [pd.Series({step: value for _, step, value in sorted(logged)}, name=key)
               for key, logged in points.items() if logged]
    if not columns:
        return pd.DataFrame({"step": pd.Series(dtype="int64")})
    return pd.concat(columns, axis=1).sort_index().rename_axis("step").reset_index()


def triples(metrics: Iterable[Metric]) -> list[tuple[int, int, float]]:
    return [(m.timestamp, m.step, m.value) for m in metrics]


def metric_history(client: MlflowClient, run_id: str, keys: list[str]) -> pd.DataFrame:
    """One run's histories of `keys`: one row per step, one column per key that the run logged."""
    return as_frame({key: triples(client.get_metric_history(run_id, key)) for key in keys})


def chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def bulk_points(uri: str, run_ids: list[str], key: str) -> dict[str, list[tuple[int, int, float]]]:
    """One GetMetricHistoryBulkInterval request: run_id -> its points of `key` (BULK_POINTS at most)."""
    answer = http_request_safe(get_default_host_creds(uri), BULK_ENDPOINT, "GET",
                               params={"run_ids": run_ids, "metric_key": key, "max_results": BULK_POINTS}).json()
    points: dict[str, list[tuple[int, int, float]]] = {run_id: [] for run_id in run_ids}
    for metric in answer.get("metrics", []):  # the server leaves the field out when no run logged the key
        points[metric["run_id"]].append((int(metric["timestamp"]), int(metric.get("step", 0)), float(metric["value"])))
    return points


def sampled(points: dict[str, list[tuple[int, int, float]]]) -> bool:
    """Whether the server may have sampled this answer: it samples BULK_POINTS steps of the union of the
    runs' steps when the union is longer, and cuts a run at BULK_POINTS points."""
    steps = {step for logged in points.values() for _, step, _ in logged}
    return len(steps) >= BULK_POINTS or any(len(logged) >= BULK_POINTS for logged in points.values())


def metric_histories(uri: str, run_ids: list[str], keys: list[str]) -> dict[str, pd.DataFrame]:
    """Each run's histories of `keys` (as `metric_history`); over HTTP, one request per 100 runs and key."""
    client = MlflowClient(uri)
    if not is_http(uri):
        return {run_id: metric_history(client, run_id, keys) for run_id in run_ids}
    points: dict[str, dict[str, list[tuple[int, int, float]]]] = {run_id: {} for run_id in run_ids}
    for key in keys:
        for chunk in chunks(run_ids, BULK_RUNS):
            answer = bulk_points(uri, chunk, key)
            if sampled(answer):  # every point counts (a run's best among them): these runs are read whole
                answer = {run_id: triples(client.get_metric_history(run_id, key)) for run_id in chunk}
            for run_id, logged in answer.items():
                points[run_id][key] = logged
    return {run_id: as_frame(points[run_id]) for run_id in run_ids}
