"""Rank a sweep's trials and render them as one self-contained HTML file (images as data URIs)."""

from __future__ import annotations

import base64
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from pipeline import metric_names as names
from pipeline.report.load import SweepData, load_sweep
from pipeline.run_keys import REASON_TAG, STATUS_TAG

# Metrics shown in the leaderboard when the trials logged them, after the ranking metric.
SHOWN_METRICS = (names.FID, names.KID, names.MODES, names.MODE_KL, names.HQ_FRACTION, names.PRECISION,
                 names.RECALL, names.DENSITY, names.COVERAGE, names.CLASS_SCORE, names.LOSS_D, names.LOSS_G,
                 names.D_ACC_REAL, names.D_ACC_FAKE)


@dataclass
class Row:
    rank: int
    run_id: str
    name: str
    status: str
    reason: str
    params: list[str]
    metrics: list[float | None]
    step: int | None
    grid: str | None  # data URI


def rank_trials(trials: pd.DataFrame, metric: str, mode: str, min_modes: int | None = None) -> pd.DataFrame:
    """Trials best first by the final value of `metric`; trials without it come last. With `min_modes`,
    trials that cover fewer modes rank after every trial that covers enough (search.min_modes)."""
    column = f"metrics.{metric}"
    if trials.empty or column not in trials:
        return trials.assign(rank=range(1, len(trials) + 1))
    ranked = trials.sort_values(column, ascending=mode == "min", na_position="last", kind="stable")
    modes = f"metrics.{names.MODES}"
    if min_modes is not None and modes in ranked:
        ranked = ranked.sort_values(modes, key=lambda covered: covered < min_modes, kind="stable")
    return ranked.assign(rank=range(1, len(ranked) + 1))


def cell(row: pd.Series, column: str) -> object:
    value = row.get(column)  # a column that no trial logged is simply absent
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def trial_status(row: pd.Series) -> str:
    return str(cell(row, f"tags.{STATUS_TAG}") or str(row["status"]).lower())


def png_data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def build_rows(data: SweepData, metric_columns: list[str]) -> list[Row]:
    rows = []
    for _, trial in rank_trials(data.trials, data.metric, data.mode, data.min_modes).iterrows():
        step, grid = data.last_grids.get(trial["run_id"], (None, None))
        rows.append(Row(
            rank=int(trial["rank"]),
            run_id=trial["run_id"],
            name=str(trial["run_name"]),
            status=trial_status(trial),
            reason=str(cell(trial, f"tags.{REASON_TAG}") or ""),
            params=[str(cell(trial, f"params.{key}") or "") for key in data.swept],
            metrics=[cell(trial, f"metrics.{m}") for m in metric_columns],
            step=step,
            grid=png_data_uri(grid) if grid else None,
        ))
    return rows


def render_html(data: SweepData) -> str:
    present = [m for m in SHOWN_METRICS if f"metrics.{m}" in data.trials]
    metric_columns = [data.metric] + [m for m in present if m != data.metric]
    environment = Environment(loader=PackageLoader("pipeline.report"), autoescape=select_autoescape(["j2", "html"]))
    environment.filters["num"] = lambda v: "" if v is None else f"{v:.4g}"
    return environment.get_template("report.html.j2").render(
        data=data,
        rows=build_rows(data, metric_columns),
        metric_columns=metric_columns,
        floor=[data.floor.get(m) for m in metric_columns],
    )


def write_atomic(path: Path, text: str) -> None:
    """Write beside the target, then rename: a reader never sees half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8") as file:
        file.write(text)
    os.chmod(temporary, 0o644)  # mkstemp makes it private; a report is for reading
    os.replace(temporary, path)


def write_report(name: str, tracking_uri: str, out: Path, parent_run_id: str | None = None) -> Path:
    """Read sweep `name` from MLflow and write its report to `out`; returns `out`."""
    write_atomic(out, render_html(load_sweep(name, tracking_uri, parent_run_id)))
    return out
