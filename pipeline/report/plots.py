"""The report's charts, drawn with matplotlib (no pyplot: no global state, no display) as PNG bytes."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

from pipeline.spec import metric_names as names

DPI = 90
LOG_SPAN = 100  # a positive range this wide (max / min) is drawn and modelled on a log scale
SUMMARY_TRIALS = 30  # more trials than this: one chart summarises them (median, band) instead of a line each
LEGEND_MAX_TRIALS = 12  # more trials than this: the legend would hide the curves; the best is labelled


def to_png(figure: Figure) -> bytes:
    """One render: each chart sets its own margins (bbox_inches="tight" would render it twice)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def log_scaled(low: float, high: float) -> bool:
    """Values spanning two decades or more (learning rates, say) go on a log axis."""
    return low > 0 and high / low >= LOG_SPAN


def numeric(values: pd.Series) -> pd.Series | None:
    """Parameter values as numbers when every one given is a number (MLflow params are strings), else
    None; a missing value (a conditional key that did not apply) stays missing."""
    converted = pd.to_numeric(values, errors="coerce")
    return converted if (converted.notna() == values.notna()).all() else None


def param_text(trials: pd.DataFrame, key: str) -> pd.Series:
    """A swept key's values as text, missing where the key did not apply to a trial (a condition)."""
    column = trials[f"params.{key}"]
    return column.astype(object).where(column.isna(), column.astype(str))


def categories_of(raw: pd.Series) -> list[str]:
    return sorted(raw.dropna().unique())


def trial_curves(history: pd.DataFrame) -> bytes | None:
    """One trial over steps: D and G losses; D's accuracy on real and fake; fid with modes beside it."""
    panels = [(names.LOSS_D, names.LOSS_G), (names.D_ACC_REAL, names.D_ACC_FAKE), (names.FID,)]
    panels = [[k for k in keys if k in history] for keys in panels]
    if history.empty or not any(panels):
        return None
    figure = Figure(figsize=(10, 2.6))
    axes = figure.subplots(1, 3, gridspec_kw={"wspace": 0.32})
    figure.subplots_adjust(left=0.05, right=0.95, bottom=0.18, top=0.88)
    for ax, keys, title in zip(axes, panels, ("losses", "D accuracy", "fid and modes"), strict=True):
        for key in keys:
            ax.plot(history["step"], history[key], marker=".", label=key)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        if keys:
            ax.legend(fontsize=7, loc="best")
    if names.MODES in history:
        twin = axes[2].twinx()
        twin.plot(history["step"], history[names.MODES], color="tab:green", marker=".", label=names.MODES)
        twin.set_ylabel(names.MODES, fontsize=8, color="tab:green")
        twin.tick_params(labelsize=7)
    return to_png(figure)


def sweep_curves(histories: dict[str, pd.DataFrame], metric: str, best: str | None,
                 top: list[str] | None = None) -> bytes | None:
    """The metric over steps: every trial's line on one plot, the best drawn thick; past SUMMARY_TRIALS
    trials, the median and the 10-90% band of all of them with only the `top` trials' lines on top."""
    drawn = {label: h for label, h in histories.items() if metric in h and h[metric].notna().any()}
    if not drawn:
        return None
    figure = Figure(figsize=(7, 3.6))
    ax = figure.subplots()
    figure.subplots_adjust(left=0.1, right=0.97, bottom=0.14, top=0.9)
    title = f"{metric} over training, every trial"
    values = pd.concat([h[metric] for h in drawn.values()])
    if len(drawn) > SUMMARY_TRIALS:
        by_step = pd.concat([h.set_index("step")[metric] for h in drawn.values()], axis=1)
        band = by_step.quantile([0.1, 0.5, 0.9], axis=1).T
        ax.fill_between(band.index, band[0.1], band[0.9], alpha=0.2, color="grey", label="10-90% of trials")
        ax.plot(band.index, band[0.5], color="grey", linewidth=1.5, label="median trial")
        drawn = {label: drawn[label] for label in (top or []) if label in drawn}
        title = f"{metric} over training: {by_step.shape[1]} trials, the top {len(drawn)} drawn"
    for label, history in drawn.items():
        thick = label == best
        ax.plot(history["step"], history[metric], linewidth=2.5 if thick else 1, alpha=1 if thick else 0.6,
                label=label if thick or len(drawn) <= LEGEND_MAX_TRIALS else None, zorder=3 if thick else 2)
    if metric in (names.FID, names.KID) and log_scaled(values.min(), values.max()):
        ax.set_yscale("log")
    ax.set(xlabel="step", ylabel=metric, title=title)
    ax.legend(fontsize=7, loc="best")
    return to_png(figure)


def crowd(count: int) -> tuple[float, float]:
    """(marker area, alpha) for `count` points or lines: fainter and smaller past SUMMARY_TRIALS, so that a
    chart of 1,000 trials shows where they cluster instead of one blot."""
    if count <= SUMMARY_TRIALS:
        return 36.0, 0.7
    thinning = (SUMMARY_TRIALS / count) ** 0.5
    return max(6.0, 36.0 * thinning), max(0.12, 0.7 * thinning)


def metric_against_parameters(trials: pd.DataFrame, swept: list[str], value: str, metric: str) -> bytes | None:
    """The metric (each trial's ranking value) against each swept parameter; text values as categories."""
    trials = trials[trials[value].notna()]  # diverged trials have no value, and must not stretch the axes
    if not swept or trials.empty:
        return None
    figure = Figure(figsize=(3.2 * len(swept), 3))
    figure.subplots_adjust(left=0.55 / len(swept) + 0.02, right=0.98, bottom=0.22, top=0.95,
                           wspace=0.45)
    size, alpha = crowd(len(trials))
    for ax, key in zip(np.atleast_1d(figure.subplots(1, len(swept))), swept, strict=True):
        raw = param_text(trials, key)
        applies = raw.notna()  # a trial the key did not apply to has no place on its axis
        raw, values = raw[applies], trials.loc[applies, value]
        number = numeric(raw)
        if number is None:
            categories = categories_of(raw)
            ax.scatter(raw.map(categories.index), values, s=size, alpha=alpha)
            ax.set_xticks(range(len(categories)), categories, fontsize=7, rotation=30)
        else:
            ax.scatter(number, values, s=size, alpha=alpha)
            if log_scaled(number.min(), number.max()):
                ax.set_xscale("log")
        ax.set_xlabel(key, fontsize=8)
        ax.set_ylabel(metric, fontsize=8)
        ax.tick_params(labelsize=7)
    return to_png(figure)


def axis_values(raw: pd.Series) -> tuple[np.ndarray, str]:
    """A parameter's values on a parallel-coordinates axis: numbers (log10 when they span 100x or more),
    or the index of each text value among the sorted categories; with the axis' label suffix."""
    number = numeric(raw)
    if number is None:  # a missing value (no condition met) maps to NaN: the line skips that axis
        categories = categories_of(raw)
        return raw.map(categories.index, na_action="ignore").to_numpy(dtype=float), " (" + " < ".join(categories) + ")"
    if log_scaled(number.min(), number.max()):
        return np.log10(number.to_numpy(dtype=float)), " (log10)"
    return number.to_numpy(dtype=float), ""


def parallel_coordinates(trials: pd.DataFrame, swept: list[str], value: str, metric: str, mode: str) -> bytes | None:
    """One line per trial through its parameter values and its metric, each axis scaled to [0, 1];
    the line's colour is the metric (yellow: best)."""
    rows = trials[trials[value].notna()]
    if not swept or rows.empty:
        return None
    axes_values = [axis_values(param_text(rows, key)) for key in swept]
    matrix = np.stack([values for values, _ in axes_values] + [rows[value].to_numpy(dtype=float)], axis=1)
    low, high = matrix.min(axis=0), matrix.max(axis=0)
    scaled = (matrix - low) / np.where(high > low, high - low, 1.0)
    goodness = 1 - scaled[:, -1] if mode == "min" else scaled[:, -1]
    figure = Figure(figsize=(2.2 * (len(swept) + 1) + 1, 3.4))
    ax = figure.subplots()
    figure.subplots_adjust(left=0.05, right=0.95, bottom=0.22, top=0.84)
    _, alpha = crowd(len(rows))
    for line, good in sorted(zip(scaled, goodness, strict=True), key=lambda pair: pair[1]):  # best drawn last
        ax.plot(range(matrix.shape[1]), line, color=colormaps["viridis"](good), alpha=max(alpha, good * 0.9))
    labels = [f"{key}{suffix}" for key, (_, suffix) in zip(swept, axes_values, strict=True)] + [metric]
    ax.set_xticks(range(matrix.shape[1]), labels, fontsize=7, rotation=15)
    ax.set_yticks([])
    for x in range(matrix.shape[1]):
        ax.axvline(x, color="#999", linewidth=0.8)
        ax.annotate(f"{high[x]:.3g}", (x, 1.03), ha="center", fontsize=7)
        ax.annotate(f"{low[x]:.3g}", (x, -0.09), ha="center", fontsize=7)
    ax.set_title(f"parameters and {metric} of every trial (yellow: best)", fontsize=9, pad=14)
    return to_png(figure)


def importance_chart(importances: dict[str, float]) -> bytes:
    height = 0.9 + 0.4 * len(importances)
    figure = Figure(figsize=(5, height))
    ax = figure.subplots()
    longest = max(len(key) for key in importances)
    figure.subplots_adjust(left=min(0.6, 0.04 + 0.017 * longest), right=0.96, bottom=0.8 / height, top=0.95)
    keys = list(importances)[::-1]
    ax.barh(keys, [importances[k] for k in keys], color="tab:blue")
    ax.set_xlim(0, max(1e-9, max(importances.values())) * 1.15)
    ax.set_xlabel("fANOVA importance (share of the metric's variance)", fontsize=8)
    ax.tick_params(labelsize=8)
    return to_png(figure)


def pareto_chart(configs: pd.DataFrame, objectives: tuple[tuple[str, str], ...]) -> bytes | None:
    """The first two objectives' configuration means (sd as error bars where replicated), the Pareto
    front drawn joined and numbered as the report's list numbers it; the rest grey."""
    (x_metric, x_mode), (y_metric, y_mode) = objectives[:2]
    x, y = configs[f"mean.{x_metric}"].astype(float), configs[f"mean.{y_metric}"].astype(float)
    drawn = x.notna() & y.notna()
    if not drawn.any():
        return None
    figure = Figure(figsize=(5.5, 4))
    ax = figure.subplots()
    figure.subplots_adjust(left=0.14, right=0.97, bottom=0.13, top=0.9)
    for on_front, colour in ((False, "#999999"), (True, "#d62728")):
        part = configs[drawn & (configs["pareto"] == on_front)]
        ax.errorbar(part[f"mean.{x_metric}"], part[f"mean.{y_metric}"], xerr=part[f"sd.{x_metric}"],
                    yerr=part[f"sd.{y_metric}"], fmt="o", color=colour, alpha=0.9 if on_front else 0.5,
                    capsize=2, label="Pareto front" if on_front else "dominated")
    front = configs[drawn & configs["pareto"]].sort_values(f"mean.{x_metric}")
    ax.plot(front[f"mean.{x_metric}"], front[f"mean.{y_metric}"], color="#d62728", linewidth=1)
    for number, (_, row) in enumerate(configs[drawn & configs["pareto"]].iterrows(), start=1):
        ax.annotate(str(number), (row[f"mean.{x_metric}"], row[f"mean.{y_metric}"]), fontsize=8,
                    xytext=(4, 4), textcoords="offset points")
    ax.set(xlabel=f"{x_metric} ({x_mode})", ylabel=f"{y_metric} ({y_mode})",
           title=f"{x_metric} against {y_metric}, one point per configuration")
    ax.legend(fontsize=7, loc="best")
    return to_png(figure)


def lineage_chart(trials: list[tuple[str, int]], exploits: dict[str, list[dict]]) -> bytes | None:
    """PBT's family tree: each trial a line over its steps (#1 at the top), each exploit an arrow at
    its step from the trial whose checkpoint was copied to the trial that took it.

    `trials`: (run name, last step) in ranking order; `exploits`: run name -> that trial's exploits."""
    if not any(exploits.values()):
        return None
    row = {name: position for position, (name, _) in enumerate(trials)}
    figure = Figure(figsize=(8, 0.45 * len(trials) + 1.2))
    figure.subplots_adjust(left=0.32, right=0.97, bottom=0.4 / (0.45 * len(trials) + 1.2) + 0.1, top=0.92)
    ax = figure.subplots()
    for name, last in trials:
        ax.plot([0, last], [row[name], row[name]], color="#bbb", linewidth=2)
    for name, taken in exploits.items():
        for exploit in taken:
            donor = row.get(exploit["donor_run_name"])
            if donor is None or name not in row:
                continue
            ax.annotate("", xy=(exploit["step"], row[name]), xytext=(exploit["step"], donor),
                        arrowprops={"arrowstyle": "->", "color": "#c0392b"})
    ax.set_yticks(range(len(trials)), [name for name, _ in trials], fontsize=7)
    ax.invert_yaxis()
    ax.set(xlabel="step", title="PBT lineage: arrows from the trial copied to the trial that took its checkpoint")
    ax.title.set_fontsize(9)
    return to_png(figure)
