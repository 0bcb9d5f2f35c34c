"""Read one sweep back from MLflow: its parent run, its trials as a DataFrame, their last sample grids."""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from pipeline import metric_names as names
from pipeline.run_keys import FLOOR_PREFIX, METRIC_TAG, MODE_TAG, ROLE_PARENT, ROLE_TAG, SWEPT_PARAM

# mlflow.log_image(key=..., step=...) stores images/<key>+step+<step>+timestamp+<ms>+<uuid>.png
# (MLflow 2 wrote % where MLflow 3 writes +).
IMAGE_NAME = re.compile(r"^(?P<key>.+?)[+%]step[+%](?P<step>\d+)[+%]timestamp[+%]\d+[+%][0-9a-f-]+\.png$")


class SweepNotFound(LookupError):
    """No experiment or no sweep run matches what the user asked for."""


@dataclass
class SweepData:
    name: str
    tracking_uri: str
    parent: pd.Series  # the parent run as one row: run_id, run_name, params.*, metrics.*, tags.*
    trials: pd.DataFrame  # one such row per trial
    metric: str
    mode: str
    swept: list[str]
    floor: dict[str, float]
    min_modes: int | None = None  # search.min_modes of the sweep
    last_grids: dict[str, tuple[int, bytes]] = field(default_factory=dict)  # run_id -> (step, PNG bytes)


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


def last_grid(client: MlflowClient, run_id: str, key: str = names.SAMPLES_IMAGE) -> tuple[int, bytes] | None:
    """(step, PNG) of image `key` at the highest step logged, or None if the run logged none."""
    steps = {}
    for artifact in client.list_artifacts(run_id, "images"):
        match = IMAGE_NAME.match(Path(artifact.path).name)
        if match and match["key"] == key:
            steps[int(match["step"])] = artifact.path
    if not steps:
        return None
    last = max(steps)
    with tempfile.TemporaryDirectory() as folder:
        return last, Path(client.download_artifacts(run_id, steps[last], folder)).read_bytes()


def parse_optional_int(text: object) -> int | None:
    """A param logged from an optional int: 'None' (or absent, from older sweeps) is None."""
    return int(text) if isinstance(text, str) and text.isdigit() else None


def load_sweep(name: str, tracking_uri: str, parent_run_id: str | None = None) -> SweepData:
    """The newest sweep of experiment `name`, or the one whose parent run is `parent_run_id`."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one bar per image is noise
    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        raise SweepNotFound(f"no MLflow experiment named {name!r} at {tracking_uri}")
    parent = find_parent(client, experiment.experiment_id, parent_run_id)
    trials = search(client, experiment.experiment_id, f"tags.mlflow.parentRunId = '{parent['run_id']}'")
    floor_columns = [c for c in parent.index if c.startswith(f"metrics.{FLOOR_PREFIX}") and pd.notna(parent[c])]
    data = SweepData(
        name=name,
        tracking_uri=tracking_uri,
        parent=parent,
        trials=trials,
        metric=parent[f"tags.{METRIC_TAG}"],
        mode=parent[f"tags.{MODE_TAG}"],
        swept=json.loads(parent[f"params.{SWEPT_PARAM}"]),
        floor={c.removeprefix(f"metrics.{FLOOR_PREFIX}"): float(parent[c]) for c in floor_columns},
        min_modes=parse_optional_int(parent.get("params.search.min_modes")),
    )
    print(f"Reading {len(trials)} trials of sweep {parent['run_name']} from MLflow ...", flush=True)
    for run_id in trials["run_id"]:
        grid = last_grid(client, run_id)
        if grid is not None:
            data.last_grids[run_id] = grid
    return data
