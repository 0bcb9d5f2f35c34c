"""Recover metrics that never reached MLflow (a tracking server down at a trial's end) from the
results Ray Tune wrote to disk, and log them into each trial's run.

    python -m pipeline.sync ring8 --tracking-uri http://127.0.0.1:5000

Every (metric, step) already in MLflow is left alone, so running it twice changes nothing.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from pipeline.errors import PipelineError
from pipeline.spec import metric_names as names
from pipeline.tracking.keys import (
    EXTENSIONS_TAG,
    HYPERPARAMETER_PREFIX,
    PARAMS_KEY,
    RESULTS_DIR_TAG,
    VALUES_TAG,
    trial_name,
)
from pipeline.tracking.location import SweepRun, add_sweep_arguments, resolve_tracking_uri
from pipeline.tracking.run_queries import SweepNotFound, find_parent
from pipeline.tracking.trial_run import TrialRun

BATCH = 1000  # MLflow takes at most 1000 metrics a log_batch call


def is_pipeline_metric(key: str) -> bool:
    return key in names.RANKABLE or key == names.CLASSIFIER_ACCURACY or key.startswith(HYPERPARAMETER_PREFIX)


def read_results(trial_dir: Path) -> list[dict]:
    path = trial_dir / "result.json"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def missing_metrics(client: MlflowClient, run_id: str, rows: list[dict]) -> list[Metric]:
    logged: dict[str, set[int]] = {}
    missing = []
    for row in rows:
        step = int(row[names.STEP])
        for key, value in row.items():
            if not is_pipeline_metric(key) or not isinstance(value, (int, float)):
                continue
            if key not in logged:
                logged[key] = {m.step for m in client.get_metric_history(run_id, key)}
            if step not in logged[key]:
                missing.append(Metric(key, float(value), int(row.get("timestamp", time.time())) * 1000, step))
    return missing


def sync_trial(sweep: SweepRun, trial_dir: Path) -> int:
    rows = [row for row in read_results(trial_dir) if names.STEP in row]
    if not rows:
        return 0
    values = rows[-1]["config"][PARAMS_KEY]
    run = TrialRun(sweep, rows[-1]["trial_id"], trial_name(values) or "trial", {}, {VALUES_TAG: json.dumps(values)},
                   system_metrics=False)
    client = sweep.client()
    missing = missing_metrics(client, run.run_id, rows)
    for start in range(0, len(missing), BATCH):
        client.log_batch(run.run_id, metrics=missing[start : start + BATCH])
    return len(missing)


def recorded_folders(parent: Mapping[str, object]) -> list[Path]:
    """Tune's folders of a sweep: the one its parent run recorded last and, where `--extend` grew it,
    the first run's and every earlier extension's (`<name>`, `<name>-extend1`, ...), which the
    newest one's name is built from."""
    recorded = parent.get(f"tags.{RESULTS_DIR_TAG}")  # absent where the sweep stopped before Tune started
    if not isinstance(recorded, str):
        return []
    extensions = parent.get(f"tags.{EXTENSIONS_TAG}")
    count = int(extensions) if isinstance(extensions, str) else 0
    first = re.sub(r"-extend\d+$", "", recorded) if count else recorded
    return [Path(first), *(Path(f"{first}-extend{n}") for n in range(1, count + 1))]


def sync(name: str, tracking_uri: str, parent_run_id: str | None, results_dir: Path | None) -> int:
    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        raise SweepNotFound(f"no MLflow experiment named {name!r} at {tracking_uri}")
    parent = find_parent(client, experiment.experiment_id, parent_run_id)
    folders = [results_dir] if results_dir else recorded_folders(parent)
    absent = [folder for folder in folders if not folder.is_dir()]
    if not folders or absent:
        raise SweepNotFound(f"{absent[0] if absent else 'none recorded'}: no such results folder (give --results-dir)")
    sweep = SweepRun(tracking_uri, experiment.experiment_id, parent["run_id"], name)
    total = 0
    for folder in folders:
        for trial_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
            recovered = sync_trial(sweep, trial_dir)
            print(f"{trial_dir.name}: {recovered} metric values recovered", flush=True)
            total += recovered
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.sync",
        description="Log into MLflow the metrics of a sweep that Ray Tune recorded on disk but MLflow never got.",
    )
    add_sweep_arguments(parser)
    parser.add_argument("--results-dir", type=Path, default=None,
                        help="Tune's folder of the sweep (default: those recorded on the parent run, the first run's "
                        "and every --extend's)")
    args = parser.parse_args(argv)
    try:
        total = sync(args.name, resolve_tracking_uri(args.tracking_uri), args.run_id, args.results_dir)
    except PipelineError as err:  # SweepNotFound (exit 2), ...
        print(f"error: {err}", file=sys.stderr)
        return err.exit_status
    print(f"{total} metric values recovered in all")
    return 0

