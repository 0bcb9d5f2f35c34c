"""The trials a sweep already ran, read back from MLflow: what `--extend` adds to and what
`search.warm_start` tells a new search.

    parent = sweep_parent(client, "dropout")          # an experiment's newest sweep, or a parent run id
    earlier = logged_trials(client, parent)           # [LoggedTrial(values={...}, metrics={...}), ...]
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from mlflow.entities import Run
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from pipeline.tracking.keys import ROLE_TAG, ROLE_TRIAL, STATUS_TAG, SWEPT_PARAM, VALUES_TAG
from pipeline.tracking.run_queries import SweepNotFound, find_parent

RUN_ID = re.compile(r"^[0-9a-f]{32}$")  # MLflow's run ids; anything else names an experiment
USABLE = ("finished", "stopped")  # diverged and errored trials report no value a search should learn from


@dataclass(frozen=True)
class LoggedTrial:
    values: dict[str, Any]  # its swept values, typed (VALUES_TAG); absent where a key did not apply
    metrics: dict[str, float]  # each metric's last logged value


def sweep_parent(client: MlflowClient, name_or_run_id: str) -> Run:
    """A sweep's parent run: by its run id, or the newest sweep of the experiment of that name."""
    if RUN_ID.match(name_or_run_id):
        try:
            return client.get_run(name_or_run_id)
        except MlflowException:
            raise SweepNotFound(f"no MLflow run {name_or_run_id}") from None
    experiment = client.get_experiment_by_name(name_or_run_id)
    if experiment is None:
        raise SweepNotFound(f"no MLflow experiment named {name_or_run_id!r} and no run of that id")
    return client.get_run(find_parent(client, experiment.experiment_id, None)["run_id"])


def swept_keys(parent: Run) -> list[str]:
    return json.loads(parent.data.params[SWEPT_PARAM])


def logged_trials(client: MlflowClient, parent: Run) -> list[LoggedTrial]:
    """The parent's finished or stopped trials, oldest first."""
    keys = swept_keys(parent)
    runs, token = [], None
    query = f"tags.mlflow.parentRunId = '{parent.info.run_id}' and tags.`{ROLE_TAG}` = '{ROLE_TRIAL}'"
    while True:
        page = client.search_runs([parent.info.experiment_id], query, max_results=1000, page_token=token,
                                  order_by=["attributes.start_time ASC"])
        runs += list(page)
        token = page.token
        if not token:
            break
    return [LoggedTrial({key: value for key, value in json.loads(run.data.tags[VALUES_TAG]).items() if key in keys},
                        dict(run.data.metrics))
            for run in runs if run.data.tags.get(STATUS_TAG) in USABLE]
