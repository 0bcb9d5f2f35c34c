"""Rank a sweep's trials and render them as one self-contained HTML file (images as data URIs).

The order is `pipeline.report.ranking`'s, the one the registered model is chosen by.
"""

from __future__ import annotations

import base64
import io
import math
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape
from mlflow.tracking import MlflowClient
from PIL import Image
from tqdm import tqdm

from pipeline.report import plots
from pipeline.report.importance import trials_to_importance
from pipeline.report.load import SweepData, load_details, load_sweep
from pipeline.report.pareto import configuration_objectives, mean_column, sd_column
from pipeline.report.study import (
    best_of_k_chart,
    configuration_views,
    eval_noise,
    race_view,
    study_verdict_text,
)
from pipeline.spec import metric_names as names
from pipeline.stats.ranking import (
    BEST,
    BEST_STEP,
    FINAL,
    add_ranking_values,
    cell,
    rank_with_replicates,
    trial_status,
)
from pipeline.tracking.keys import REASON_TAG

# Metrics shown in the leaderboard (final values) when the trials logged them.
SHOWN_METRICS = (names.FID, names.KID, names.MODES, names.MODE_KL, names.HQ_FRACTION, names.PRECISION,
                 names.RECALL, names.DENSITY, names.COVERAGE, names.CLASS_SCORE, names.LOSS_D, names.LOSS_G,
                 names.D_ACC_REAL, names.D_ACC_FAKE)
REPORT_FOLDER = "report"  # on the sweep's parent run: the latest report, NAME.html
OPEN_TRIALS = 5  # the top trials' sections start open; the rest are collapsed
THUMBNAIL_WIDTH = 128  # pixels of a progression-strip frame


@dataclass
class TrialView:
    rank: int
    run_id: str
    name: str
    status: str
    reason: str
    params: list[str]
    best: float | None
    best_step: int | None
    final: float | None
    metrics: list[float | None]
    step: int | None
    link: str | None
    detailed: bool = False  # among the top report.detail: drawn in full below the leaderboard
    grid: str | None = None  # data URIs from here on
    strip: list[tuple[int, str]] = field(default_factory=list)
    histogram: str | None = None
    curves: str | None = None


def png_data_uri(png: bytes | None) -> str | None:
    return None if png is None else "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def thumbnail(png: bytes) -> bytes:
    image = Image.open(io.BytesIO(png)).convert("RGB")
    height = max(1, round(image.height * THUMBNAIL_WIDTH / image.width))
    buffer = io.BytesIO()
    image.resize((THUMBNAIL_WIDTH, height), Image.Resampling.LANCZOS).save(buffer, format="PNG")
    return buffer.getvalue()


def run_link(data: SweepData, run_id: str) -> str | None:
    """The run's page in the MLflow UI, when the tracking store is a server a browser can open."""
    if not data.tracking_uri.startswith(("http://", "https://")):
        return None
    return f"{data.tracking_uri.rstrip('/')}/#/experiments/{data.experiment_id}/runs/{run_id}"


def build_views(data: SweepData, ranked: pd.DataFrame, metric_columns: list[str]) -> list[TrialView]:
    """A leaderboard row per trial; the top `data.detail` with their pictures and curves (load_details)."""
    views = []
    rows = list(ranked.iterrows())
    for position, (_, trial) in enumerate(tqdm(rows, desc="Drawing trials", unit="trial", file=sys.stderr,
                                               disable=len(rows) < 10)):
        run_id, detailed = trial["run_id"], position < data.detail
        frames = data.grids.get(run_id, []) if detailed else []
        views.append(TrialView(
            rank=int(trial["rank"]),
            run_id=run_id,
            name=str(trial["run_name"]),
            status=trial_status(trial),
            reason=str(cell(trial, f"tags.{REASON_TAG}") or ""),
            params=[str(cell(trial, f"params.{key}") or "") for key in data.swept],
            best=cell(trial, BEST),
            best_step=cell(trial, BEST_STEP),
            final=cell(trial, FINAL),
            metrics=[cell(trial, f"metrics.{m}") for m in metric_columns],
            step=frames[-1][0] if frames else None,
            link=run_link(data, run_id),
            detailed=detailed,
            grid=png_data_uri(frames[-1][1]) if frames else None,
            strip=[(step, png_data_uri(thumbnail(png))) for step, png in frames],
            histogram=png_data_uri(data.mode_histograms.get(run_id, (None, None))[1]) if detailed else None,
            curves=png_data_uri(plots.trial_curves(data.histories.get(run_id, pd.DataFrame()))) if detailed else None,
        ))
    return views


def sweep_views(data: SweepData, ranked: pd.DataFrame) -> dict[str, object]:
    """The charts over all trials, and the parameter importances."""
    best = str(ranked.iloc[0]["run_name"]) if not ranked.empty and pd.notna(ranked.iloc[0].get(BEST)) else None
    labelled = {str(t["run_name"]): data.histories.get(t["run_id"], pd.DataFrame()) for _, t in ranked.iterrows()}
    top = list(labelled)[: data.detail]
    importance = trials_to_importance(ranked, data.swept, BEST, data.mode) if BEST in ranked else None
    return {
        "curves": png_data_uri(plots.sweep_curves(labelled, data.metric, best, top)),
        "against": png_data_uri(plots.metric_against_parameters(ranked, data.swept, BEST, data.metric)),
        "parallel": png_data_uri(plots.parallel_coordinates(ranked, data.swept, BEST, data.metric, data.mode)),
        "importance": importance,
        "importance_chart": png_data_uri(plots.importance_chart(importance)) if importance else None,
        "latent": {name: png_data_uri(png) for name, png in sorted(data.latent.items())},
    }


@dataclass
class ParetoView:
    """A multi-objective sweep's front: its chart and its non-dominated configurations, best first on
    the first metric, each with its replicates' mean and sd of every objective."""

    objectives: list[tuple[str, str]]
    chart: str | None
    dominated: int  # competing configurations off the front
    rows: list[tuple[str, list[str], int, list[tuple[float | None, float | None]]]]  # run id, params, n, values


def pareto_view(data: SweepData) -> ParetoView | None:
    if len(data.objectives) < 2:
        return None
    configs = configuration_objectives(data.trials, data.histories, data.objectives, data.min_modes)
    front = configs[configs["pareto"].astype(bool)] if not configs.empty else configs
    by_run = data.trials.set_index("run_id") if not data.trials.empty else data.trials
    rows = []
    for _, config in front.iterrows():  # columns like mean.fid are no attribute names for itertuples
        first = by_run.loc[config["run_id"]]
        values = [(nan_to_none(config[mean_column(m)]), nan_to_none(config[sd_column(m)])) for m, _ in data.objectives]
        params = [str(cell(first, f"params.{key}") or "") for key in data.swept]
        rows.append((config["run_id"], params, int(config["n"]), values))
    return ParetoView(list(data.objectives), png_data_uri(plots.pareto_chart(configs, data.objectives)),
                      len(configs) - len(front), rows)


@dataclass
class LineageView:
    """A PBT/PB2 sweep's exploits: the lineage chart, and a row per exploit."""

    chart: str | None
    rows: list[tuple[str, str, int, str, str, str]]  # run id, trial, step, donor run id, donor, values old -> new


def lineage_view(data: SweepData, ranked: pd.DataFrame) -> LineageView | None:
    if not any(data.exploits.values()):
        return None
    names_by_run = {t["run_id"]: str(t["run_name"]) for _, t in ranked.iterrows()}
    last_step = {name: int(data.histories[run_id]["step"].max()) if run_id in data.histories
                 and not data.histories[run_id].empty else 0 for run_id, name in names_by_run.items()}
    rows = []
    for run_id, taken in data.exploits.items():
        for exploit in taken:
            change = ", ".join(f"{key} {format_number(exploit['old'].get(key))} -> {format_number(value)}"
                               for key, value in exploit["new"].items())
            rows.append((run_id, names_by_run.get(run_id, run_id), int(exploit["step"]), exploit["donor_run_id"],
                         str(exploit["donor_run_name"]), change))
    exploits = {names_by_run[run_id]: taken for run_id, taken in data.exploits.items() if run_id in names_by_run}
    chart = plots.lineage_chart(list(last_step.items()), exploits)
    return LineageView(png_data_uri(chart), sorted(rows, key=lambda row: (row[2], row[1])))


def format_number(value: float | None) -> str:
    return "?" if value is None else f"{value:.4g}"


def nan_to_none(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def render_html(data: SweepData) -> str:
    present = [m for m in SHOWN_METRICS if f"metrics.{m}" in data.trials]
    metric_columns = [m for m in present if m != data.metric]
    trials = add_ranking_values(data.trials, data.histories, data.metric, data.mode)
    ranked, configs = rank_with_replicates(trials, data.metric, data.mode, data.min_modes)
    load_details(data, list(ranked["run_id"][: data.detail]) if not ranked.empty else [])
    configurations = configuration_views(data, ranked, configs)
    environment = Environment(loader=PackageLoader("pipeline.report"), autoescape=select_autoescape(["j2", "html"]))
    environment.filters["num"] = lambda v: "" if v is None else f"{v:.4g}"
    print("Drawing the sweep's charts ...", file=sys.stderr, flush=True)
    return environment.get_template("report.html.j2").render(
        data=data,
        rows=build_views(data, ranked, metric_columns),
        configurations=configurations,
        race=race_view(data),
        noise=eval_noise(data, ranked),
        best_of_k=png_data_uri(best_of_k_chart(data, ranked)),
        pareto=pareto_view(data),
        lineage=lineage_view(data, ranked),
        verdict=study_verdict_text(data, configs, configurations),
        metric_columns=metric_columns,
        floor=[data.floor.get(m) for m in metric_columns],
        floor_sd=[data.floor_sd.get(m) for m in metric_columns],
        metric_floor=data.floor.get(data.metric),
        metric_floor_sd=data.floor_sd.get(data.metric),
        sweep=sweep_views(data, ranked),
        parent_link=run_link(data, data.parent["run_id"]),
        open_trials=OPEN_TRIALS,
    )


def write_atomic(path: Path, text: str) -> None:
    """Write beside the target, then rename: a reader never sees half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8") as file:
        file.write(text)
    os.chmod(temporary, 0o644)  # mkstemp makes it private; a report is for reading
    os.replace(temporary, path)


def write_report(name: str, tracking_uri: str, out: Path, parent_run_id: str | None = None,
                 detail: int | None = None) -> Path:
    """Read sweep `name` from MLflow and write its report to `out`, and as artifact REPORT_FOLDER/NAME.html
    of the sweep's parent run (replacing an earlier one: the report lives with the sweep, where MLflow's
    UI previews it, after the machine that ran the sweep is gone); returns `out`. `detail`: the top trials
    drawn in full, where not the sweep's own report.detail."""
    data = load_sweep(name, tracking_uri, parent_run_id)
    if detail is not None:  # the command line's --detail over the sweep's report.detail
        data.detail = detail
    html = render_html(data)
    write_atomic(out, html)
    MlflowClient(tracking_uri).log_text(data.parent["run_id"], html, f"{REPORT_FOLDER}/{name}.html")
    return out
