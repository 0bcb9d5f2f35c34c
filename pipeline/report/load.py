"""Read one sweep back from MLflow: its parent run, its trials as a DataFrame, each trial's metric
histories and logged pictures (sample grids over training, mode histograms), and the best
generator's latent maps."""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from mlflow.tracking import MlflowClient
from tqdm import tqdm

from pipeline.spec import metric_names as names
from pipeline.spec.config import POPULATION_SCHEDULERS
from pipeline.spec.metric_names import (
    FLOOR_PREFIX,
    FLOOR_SD_PREFIX,
    FLOOR_SOURCE_PARAM,
    FLOOR_SPREAD_PARAM,
    PROTOCOL_PARAM,
)
from pipeline.tracking.keys import (
    END_REASON_TAG,
    LATENT_FOLDER,
    LINEAGE_FOLDER,
    METRIC_TAG,
    MODE_TAG,
    OBJECTIVES_TAG,
    SWEPT_PARAM,
)
from pipeline.tracking.metric_history import as_frame, metric_histories
from pipeline.tracking.run_queries import SweepNotFound, find_parent, search
from pipeline.tracking.sweep_runs import read_race

# Metric histories the report draws, where a trial logged them (with the sweep's own metric).
HISTORY_METRICS = (names.FID, names.KID, names.MODES, names.MODE_KL, names.LOSS_D, names.LOSS_G,
                   names.D_ACC_REAL, names.D_ACC_FAKE)
STRIP_FRAMES = 8  # sample grids per trial in its progression strip: evenly over training, the last included

# mlflow.log_image(key=..., step=...) stores images/<key>+step+<step>+timestamp+<ms>+<uuid>.png
IMAGE_NAME = re.compile(r"^(?P<key>.+?)\+step\+(?P<step>\d+)\+timestamp\+\d+\+[0-9a-f-]+\.png$")


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
    experiment_id: str = ""
    floor_sd: dict[str, float] = field(default_factory=dict)  # the floor's sd over real sets of eval.samples
    floor_source: str | None = None  # which real points the floor scores (None: the sweep logged no floor)
    floor_spread: str | None = None  # which real sets floor_sd is over
    protocol: str | None = None  # how every metric is computed: feature space, n, reference, weights
    min_modes: int | None = None  # search.min_modes of the sweep
    seeds: int = 1  # search.seeds: replicates of each configuration (a race's max)
    delta: float | None = None  # search.delta: the smallest difference that matters, in the metric's units
    algorithm: str = "grid"  # search.algorithm
    detail: int = 20  # report.detail: the top trials drawn in full; the rest are one leaderboard row each
    race: dict | None = None  # a racing sweep's record (tracking.sweep_runs.read_race): rounds, decisions, summary
    end_reason: str | None = None  # why the sweep ended ("every trial ran", its target, its time budget)
    objectives: tuple[tuple[str, str], ...] = ()  # ((metric, mode), ...); several: a multi-objective sweep
    # run_id -> metric histories, one row per logged step: columns step and the metrics in HISTORY_METRICS
    histories: dict[str, pd.DataFrame] = field(default_factory=dict)
    # run_id -> [(step, PNG)] of the sample grid at up to STRIP_FRAMES steps, the last step last
    grids: dict[str, list[tuple[int, bytes]]] = field(default_factory=dict)
    mode_histograms: dict[str, tuple[int, bytes]] = field(default_factory=dict)  # run_id -> last (step, PNG)
    # run_id -> its PBT/PB2 exploits, oldest first: {step, donor_run_id, donor_run_name, old, new}
    exploits: dict[str, list[dict]] = field(default_factory=dict)
    latent: dict[str, bytes] = field(default_factory=dict)  # 'plane', 'interpolation' -> PNG of the best trial








def image_steps(client: MlflowClient, run_id: str) -> dict[str, dict[int, str]]:
    """Every image a run logged with log_image(key=, step=): key -> step -> artifact path."""
    found: dict[str, dict[int, str]] = {}
    for artifact in client.list_artifacts(run_id, "images"):
        match = IMAGE_NAME.match(Path(artifact.path).name)
        if match:
            found.setdefault(match["key"], {})[int(match["step"])] = artifact.path
    return found


def spread(steps: list[int], count: int) -> list[int]:
    """At most `count` of the sorted `steps`, evenly spaced, the first and the last included."""
    if len(steps) <= count:
        return steps
    picks = {round(i * (len(steps) - 1) / (count - 1)) for i in range(count)}
    return [steps[i] for i in sorted(picks)]


def download(client: MlflowClient, run_id: str, path: str) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        return Path(client.download_artifacts(run_id, path, folder)).read_bytes()


def parse_optional_int(text: object) -> int | None:
    """A param logged from an optional int: 'None' is None."""
    return int(text) if isinstance(text, str) and text.isdigit() else None


def parse_optional_float(text: object) -> float | None:
    """A param logged from an optional float: 'None' is None."""
    return None if not isinstance(text, str) or text == "None" else float(text)


def logged_seeds(parent: pd.Series) -> int:
    """search.seeds of the sweep: its count, or a race's max (logged as search.seeds.max)."""
    seeds = parse_optional_int(parent.get("params.search.seeds"))
    return seeds if seeds is not None else int(parent["params.search.seeds.max"])


def logged_objectives(parent: pd.Series) -> tuple[tuple[str, str], ...]:
    """The sweep's (metric, mode) pairs, the ranking one first: several for a multi-objective sweep."""
    return tuple((str(metric), str(mode)) for metric, mode in json.loads(parent[f"tags.{OBJECTIVES_TAG}"]))


def prefixed_metrics(run: pd.Series, prefix: str) -> dict[str, float]:
    """The run's metrics named `prefix` + key, as {key: value}."""
    columns = [c for c in run.index if c.startswith(f"metrics.{prefix}") and pd.notna(run[c])]
    return {c.removeprefix(f"metrics.{prefix}"): float(run[c]) for c in columns}


def load_sweep(name: str, tracking_uri: str, parent_run_id: str | None = None) -> SweepData:
    """The newest sweep of experiment `name`, or the one whose parent run is `parent_run_id`."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # ours counts trials instead
    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        raise SweepNotFound(f"no MLflow experiment named {name!r} at {tracking_uri}")
    parent = find_parent(client, experiment.experiment_id, parent_run_id)
    trials = search(client, experiment.experiment_id, f"tags.mlflow.parentRunId = '{parent['run_id']}'")
    swept = json.loads(parent[f"params.{SWEPT_PARAM}"])
    # a conditional key whose condition held for no trial was never logged: its column is all missing
    trials = trials.reindex(columns=[*trials.columns, *(f"params.{key}" for key in swept
                                                        if f"params.{key}" not in trials)])
    data = SweepData(
        name=name,
        tracking_uri=tracking_uri,
        parent=parent,
        trials=trials,
        metric=parent[f"tags.{METRIC_TAG}"],
        mode=parent[f"tags.{MODE_TAG}"],
        swept=swept,
        floor=prefixed_metrics(parent, FLOOR_PREFIX),
        experiment_id=experiment.experiment_id,
        floor_sd=prefixed_metrics(parent, FLOOR_SD_PREFIX),
        floor_source=parent.get(f"params.{FLOOR_SOURCE_PARAM}"),
        floor_spread=parent.get(f"params.{FLOOR_SPREAD_PARAM}"),
        protocol=parent.get(f"params.{PROTOCOL_PARAM}"),
        min_modes=parse_optional_int(parent.get("params.search.min_modes")),
        seeds=logged_seeds(parent),
        delta=parse_optional_float(parent.get("params.search.delta")),
        algorithm=str(parent.get("params.search.algorithm")),
        race=read_race(client, parent["run_id"]),
        detail=int(parent["params.report.detail"]),
        objectives=logged_objectives(parent),
        end_reason=parent.get(f"tags.{END_REASON_TAG}"),
    )
    logged = [metric for metric, _ in data.objectives if f"metrics.{metric}" in trials]
    print(f"Reading the {', '.join(logged) or 'ranking'} histories of {len(trials)} trials of sweep "
          f"{parent['run_name']} from MLflow", file=sys.stderr, flush=True)
    data.histories = metric_histories(tracking_uri, list(trials.get("run_id", [])), logged)
    if data.parent.get("params.scheduler.name") in POPULATION_SCHEDULERS:
        for run_id in tqdm(list(trials["run_id"]), desc="Reading PBT lineage", unit="trial", file=sys.stderr):
            data.exploits[run_id] = exploits(client, run_id)
    for artifact in client.list_artifacts(parent["run_id"], LATENT_FOLDER):
        data.latent[Path(artifact.path).stem] = download(client, parent["run_id"], artifact.path)
    return data


def load_details(data: SweepData, run_ids: list[str]) -> None:
    """What the report draws in full for these trials (its top `report.detail`): every metric's history
    (the ranking metrics' are there already), the sample grids over training and the last mode histogram."""
    client = MlflowClient(data.tracking_uri)
    trials = data.trials.set_index("run_id")
    more = [m for m in HISTORY_METRICS if f"metrics.{m}" in trials and m not in dict(data.objectives)]
    for run_id, history in metric_histories(data.tracking_uri, run_ids, more).items():
        ranking = data.histories.get(run_id, as_frame({}))
        merged = history.merge(ranking, on="step", how="outer") if len(history.columns) > 1 else ranking
        data.histories[run_id] = merged.sort_values("step").reset_index(drop=True)
    for run_id in tqdm(run_ids, desc="Reading the top trials' pictures", unit="trial", file=sys.stderr,
                       disable=len(run_ids) < 10):
        load_pictures(client, data, run_id)


def load_pictures(client: MlflowClient, data: SweepData, run_id: str) -> None:
    """One trial's sample grids over training and its last mode histogram."""
    images = image_steps(client, run_id)
    grids = images.get(names.SAMPLES_IMAGE, {})
    data.grids[run_id] = [(step, download(client, run_id, grids[step])) for step in spread(sorted(grids), STRIP_FRAMES)]
    histograms = images.get(names.MODES_IMAGE)
    if histograms:
        last = max(histograms)
        data.mode_histograms[run_id] = (last, download(client, run_id, histograms[last]))


def exploits(client: MlflowClient, run_id: str) -> list[dict]:
    """The trial's PBT/PB2 exploits, as it logged them (lineage/exploit-<step>.json), oldest first."""
    paths = sorted(item.path for item in client.list_artifacts(run_id, LINEAGE_FOLDER))
    return [json.loads(download(client, run_id, path)) for path in paths]
