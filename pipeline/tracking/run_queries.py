"""A sweep's runs found and read as pandas rows: every run matching a filter (all pages), and a sweep's
parent run by id or the newest; `SweepNotFound` where there is none.

    parent = find_parent(MlflowClient(uri), experiment_id, None)   # the newest sweep's parent run
    trials = search(client, experiment_id, f"tags.mlflow.parentRunId = '{parent['run_id']}'")
"""

from __future__ import annotations

import pandas as pd
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from pipeline.errors import UserError
from pipeline.tracking.keys import ROLE_PARENT, ROLE_TAG


class SweepNotFound(UserError, LookupError):
    """No experiment or no sweep run matches what the user asked for."""


def runs_to_frame(runs: list[Run]) -> pd.DataFrame:
    """MLflow runs as rows, columns named as mlflow.search_runs names them."""
    rows = []
    for run in runs:
        row = {
            "run_id": run.info.run_id,
            "run_name": run.info.run_name,
            "status": run.info.status,
            "start_time": run.info.start_time,
        }
        row.update({f"params.{k}": v for k, v in run.data.params.items()})
        row.update({f"metrics.{k}": v for k, v in run.data.metrics.items()})
        row.update({f"tags.{k}": v for k, v in run.data.tags.items()})
        rows.append(row)
    return pd.DataFrame(rows, columns=None if rows else ["run_id", "run_name", "status", "start_time"])


def search(client: MlflowClient, experiment_id: str, filter_string: str) -> pd.DataFrame:
    runs, token = [], None
    while True:
        page = client.search_runs([experiment_id], filter_string, max_results=1000, page_token=token)
        runs += list(page)
        token = page.token
        if not token:
            return runs_to_frame(runs)


def find_parent(client: MlflowClient, experiment_id: str, parent_run_id: str | None) -> pd.Series:
    parents = search(client, experiment_id, f"tags.`{ROLE_TAG}` = '{ROLE_PARENT}'")
    if parent_run_id is not None:
        parents = parents[parents["run_id"] == parent_run_id]
    if parents.empty:
        which = f"run {parent_run_id}" if parent_run_id else "run"
        raise SweepNotFound(f"no sweep {which} in experiment {experiment_id}")
    return parents.sort_values("start_time", ascending=False).iloc[0]

