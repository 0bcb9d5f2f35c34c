"""Best metric reached against compute spent: random search, Optuna TPE, CMA-ES and GP, ASHA, median
stopping and BOHB (HyperBand) with TPE, PBT and PB2.

    python benchmarks/search_efficiency.py --dataset ring8 --seeds 0 1 2 [--workdir /tmp/search-bench]
    python benchmarks/search_efficiency.py --dataset grid25 --seeds 0 1 2
    python benchmarks/search_efficiency.py --dataset ring8 --methods random cmaes gp median_tpe bohb pb2 \
        --workdir /tmp/search-bench-22
    python benchmarks/search_efficiency.py --dataset grid25 --methods random gp median_tpe bohb pb2 \
        --workdir /tmp/search-bench-22-grid25   # no cmaes: grid25's space has categorical keys
    python benchmarks/search_efficiency.py --dataset ring8 --metric hq_fraction --set trial.train.g_ema=0.99 \
        --methods random asha_tpe --workdir /tmp/search-bench-hq
    python benchmarks/search_efficiency.py --dataset ring8 --metric hq_fraction --set trial.train.g_ema=0.99 \
        --steps 4500 --set search.startup_trials=4 --methods random asha_tpe --workdir /tmp/search-bench-4500

Every (method, seed) is a real sweep through `python -m pipeline.sweep` (Ray Tune, MLflow in one SQLite
file in the workdir), named `DATASET-METHOD-sSEED`; sweeps already finished there are not run again,
so an interrupted benchmark goes on where it stopped. Compute is counted in training steps: each
evaluation a trial logs stands for `eval_every` steps, and a sweep's evaluations are replayed in the
order of their MLflow timestamps, so the curve is "best fid so far" (or the `--metric` asked for)
against "steps trained so far" over all of the sweep's trials together. `--set` changes a spec key
for every sweep of every method; give such a variant a workdir of its own, as sweeps are found by name.

Target (issue 8): ASHA with TPE reaches random search's final best with at most a third of random
search's compute.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from mlflow.tracking import MlflowClient
from sweep_cli import SPECS, run_sweep, tracking_uri  # this folder's: the script's own directory is on sys.path

from pipeline.tracking.keys import ROLE_PARENT, ROLE_TAG
from pipeline.tracking.run_queries import find_parent, search

STEPS = 1500  # per trial for random, TPE and ASHA's longest trials, unless --steps says otherwise
EVAL_EVERY = 250  # one evaluation, and one ASHA rung unit, every 250 steps: 6 per 1500-step trial
TRIALS = 12  # random and TPE
ASHA_TRIALS = 24  # ASHA stops most trials after one evaluation, so it is given twice the trials
PBT_POPULATION = 6  # trained twice as long as a random trial: the same compute as random search

# What is searched, per dataset: both learning rates over two decades and D's dropout; on grid25
# also the packing and minibatch-std remedies of its own spec.
SPACES = {
    "ring8": "{optim.g.lr: {log_uniform: [3.0e-5, 1.0e-2]}, optim.d.lr: {log_uniform: [3.0e-5, 1.0e-2]},"
             " model.dropout: {uniform: [0.0, 0.6]}}",
    "grid25": "{optim.g.lr: {log_uniform: [3.0e-5, 1.0e-2]}, optim.d.lr: {log_uniform: [3.0e-5, 1.0e-2]},"
              " model.dropout: {uniform: [0.0, 0.6]}, model.pack: {choice: [1, 2, 4]},"
              " model.minibatch_std: {choice: [false, true]}}",
}
PBT_MUTATIONS = ("{optim.g.lr: {log_uniform: [3.0e-5, 1.0e-2]}, optim.d.lr: {log_uniform: [3.0e-5, 1.0e-2]},"
                 " model.dropout: {uniform: [0.0, 0.6]}}")
SHOWN_PARAMS = ("optim.g.lr", "optim.d.lr", "model.dropout", "model.pack", "model.minibatch_std", "train.steps")
SHOWN_METRICS = ("fid", "modes", "hq_fraction", "mode_kl")
METHODS = {
    "random": [f"search.num_samples={TRIALS}", "search.algorithm=random", "scheduler={name: fifo}"],
    "tpe": [f"search.num_samples={TRIALS}", "search.algorithm=optuna", "scheduler={name: fifo}"],
    "asha_tpe": [f"search.num_samples={ASHA_TRIALS}", "search.algorithm=optuna",
                 "scheduler={name: asha, grace_period: 1, reduction_factor: 3}"],
    "pbt": [f"search.num_samples={PBT_POPULATION}", "search.algorithm=random",
            f"scheduler={{name: pbt, perturbation_interval: 2, quantile_fraction: 0.25, mutations: {PBT_MUTATIONS}}}"],
    # issue 22's menu: Optuna's other samplers, median stopping and BOHB (HyperBand with TPE), PB2
    "cmaes": [f"search.num_samples={TRIALS}", "search.algorithm=optuna", "search.sampler=cmaes",
              "scheduler={name: fifo}"],
    "gp": [f"search.num_samples={TRIALS}", "search.algorithm=optuna", "search.sampler=gp", "scheduler={name: fifo}"],
    "median_tpe": [f"search.num_samples={ASHA_TRIALS}", "search.algorithm=optuna",
                   "scheduler={name: median, grace_period: 1, min_samples: 3}"],
    "bohb": [f"search.num_samples={ASHA_TRIALS}", "search.algorithm=optuna",
             "scheduler={name: hyperband, reduction_factor: 3}"],
    "pb2": [f"search.num_samples={PBT_POPULATION}", "search.algorithm=random",
            f"scheduler={{name: pb2, perturbation_interval: 2, quantile_fraction: 0.25, mutations: {PBT_MUTATIONS}}}"],
}
PBT_LENGTH = 2  # PBT's members train this many times --steps: with half the trials, the same compute as random
POPULATION = ("pbt", "pb2")  # methods whose trials change their values while they train


@dataclass(frozen=True)
class Objective:
    """The metric a sweep ranks its trials by, and which way is better."""
    metric: str
    mode: str  # "min" or "max", as the spec's `mode`

    def better(self, value: float, than: float) -> bool:
        return value < than if self.mode == "min" else value > than

    @property
    def worst(self) -> float:
        return math.inf if self.mode == "min" else -math.inf


# fid is the default: continuous, unlike grid25's own ranking metric (modes), so the methods can be told
# apart; hq_fraction is ring8's own ranking metric, the one the quality section searches on.
OBJECTIVES = {"fid": Objective("fid", "min"), "hq_fraction": Objective("hq_fraction", "max")}


@dataclass
class Curve:
    """A sweep's best-so-far metric after each of its evaluations, with the steps trained by then."""
    steps: list[int]
    best: list[float]
    wall_seconds: float  # the sweep's parent run, start to end: trials, start-up and Tune's bookkeeping

    def steps_to_reach(self, target: float, objective: Objective) -> int | None:
        return next((s for s, b in zip(self.steps, self.best, strict=True) if not objective.better(target, b)), None)


def sweep_overrides(dataset: str, method: str, seed: int, objective: Objective, steps: int,
                    spec_keys: list[str]) -> list[str]:
    trial_steps = PBT_LENGTH * steps if method in POPULATION else steps
    return [f"metric={objective.metric}", f"mode={objective.mode}", f"trial.train.steps={trial_steps}",
            f"trial.train.eval_every={EVAL_EVERY}", f"trial.train.seed={seed}", f"search.seed={seed}",
            "search.max_concurrent=2", f"parameters={SPACES[dataset]}", *METHODS[method],
            *spec_keys]


def finished(client: MlflowClient, experiment_name: str) -> bool:
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        return False
    runs = client.search_runs([experiment.experiment_id], f"attributes.status = 'FINISHED' and "
                              f"tags.`{ROLE_TAG}` = '{ROLE_PARENT}'", max_results=1)  # the sweep, not a trial
    return bool(runs)


def run_missing(dataset: str, seeds: list[int], methods: list[str], workdir: Path, objective: Objective,
                steps: int, spec_keys: list[str]) -> None:
    client = MlflowClient(tracking_uri(workdir))
    for seed in seeds:
        for method in methods:
            name = f"{dataset}-{method}-s{seed}"
            if finished(client, name):
                continue
            print(f"[{time.strftime('%H:%M:%S')}] sweep {name}", flush=True)
            started = time.perf_counter()
            overrides = sweep_overrides(dataset, method, seed, objective, steps, spec_keys)
            run_sweep(SPECS / f"{dataset}.yaml", workdir, overrides, log=workdir / f"{name}.log", experiment=name)
            print(f"  {time.perf_counter() - started:.0f} s", flush=True)


def sweep_runs(client: MlflowClient, experiment_name: str):
    """The experiment's newest sweep: its parent run (a row) and its trials (a DataFrame)."""
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:  # --summary-only on a workdir that never ran this sweep
        raise SystemExit(f"no experiment {experiment_name!r} in {client.tracking_uri}: run the sweep first")
    parent = find_parent(client, experiment.experiment_id, None)
    return parent, search(client, experiment.experiment_id, f"tags.mlflow.parentRunId = '{parent['run_id']}'")


def sweep_curve(client: MlflowClient, experiment_name: str, objective: Objective) -> tuple[Curve, dict]:
    """The sweep's curve and its best trial's parameters and final metrics."""
    parent, trials = sweep_runs(client, experiment_name)
    events = []
    for run_id in trials["run_id"]:
        events += [(m.timestamp, m.value, run_id) for m in client.get_metric_history(run_id, objective.metric)]
    events.sort()
    steps, best, so_far, best_run = [], [], objective.worst, None
    for count, (_, value, run_id) in enumerate(events, start=1):
        if math.isfinite(value) and objective.better(value, so_far):
            so_far, best_run = value, run_id
        steps.append(count * EVAL_EVERY)
        best.append(so_far)
    row = trials[trials["run_id"] == best_run].iloc[0]
    params = {key: row[f"params.{key}"] for key in SHOWN_PARAMS if f"params.{key}" in row.index}
    finals = {key: row[f"metrics.{key}"] for key in SHOWN_METRICS if f"metrics.{key}" in row.index}
    wall = (client.get_run(parent["run_id"]).info.end_time - parent["start_time"]) / 1000
    return Curve(steps, best, wall), {"run_id": best_run, "params": params, "metrics": finals}


def best_by_pacgan(client: MlflowClient, experiment_names: list[str]) -> dict:
    """The trial whose last evaluation covers the most modes with the largest high-quality share.

    fid on raw 2D coordinates compares only means and covariances, so a blurred ring can score well
    on it while few of its samples lie near a mode: the configuration to retrain is chosen here.
    """
    rows = []
    for name in experiment_names:
        _, trials = sweep_runs(client, name)
        rows += [(row["metrics.modes"], row["metrics.hq_fraction"], name, row) for _, row in trials.iterrows()
                 if math.isfinite(row.get("metrics.hq_fraction", math.nan))]
    modes, hq, name, row = max(rows, key=lambda item: item[:2])
    swept = {key: row[f"params.{key}"] for key in SHOWN_PARAMS if f"params.{key}" in row.index}
    return {"sweep": name, "modes": modes, "hq_fraction": hq, "mode_kl": row["metrics.mode_kl"],
            "fid": row["metrics.fid"], "values": swept}


def chart_name(dataset: str, metric: str, steps: int, methods: list[str], spec_keys: list[str]) -> str:
    """The chart's file name, from everything that changes the curves: the methods drawn, their settings."""
    settings = "".join(f"_{key.rpartition('.')[2]}{value}" for key, value in (k.split("=", 1) for k in spec_keys))
    return f"search_efficiency_{dataset}_{metric}_{steps}steps_{'-'.join(methods)}{settings}.png"


def summarize(dataset: str, seeds: list[int], workdir: Path, objective: Objective, charts: Path,
              steps: int, spec_keys: list[str]) -> None:
    client = MlflowClient(tracking_uri(workdir))
    done = [(m, s) for s in seeds for m in METHODS if finished(client, f"{dataset}-{m}-s{s}")]
    missing = sorted(set((m, s) for m in METHODS for s in seeds) - set(done))
    if missing:  # a benchmark cut short: summarize what finished, and say what did not
        print(f"not finished, left out: {', '.join(f'{dataset}-{m}-s{s}' for m, s in missing)}")
    seeds = [s for s in seeds if ("random", s) in done]
    curves = {(m, s): sweep_curve(client, f"{dataset}-{m}-s{s}", objective) for m, s in done if s in seeds}
    if not curves:  # every comparison is against random search's sweep of the same seed
        raise SystemExit(f"nothing to summarize in {workdir}: no seed has a finished random sweep")
    print(f"\n{dataset}: best {objective.metric} so far; compute in thousands of training steps\n")
    print("| method | seed | trials' compute (k steps) | sweep wall (s) | final best "
          "| compute to reach random's final best |")
    print("|---|---:|---:|---:|---:|---:|")
    for method, seed in sorted(curves, key=lambda key: (list(METHODS).index(key[0]), key[1])):
        curve, random_curve = curves[(method, seed)][0], curves[("random", seed)][0]
        reach = curve.steps_to_reach(random_curve.best[-1], objective)
        share = "never" if reach is None else f"{reach / 1000:.2f}k ({reach / random_curve.steps[-1]:.0%})"
        print(f"| {method} | {seed} | {curve.steps[-1] / 1000:.1f} | {curve.wall_seconds:.0f} "
              f"| {curve.best[-1]:.4f} | {share} |")
    best_method, best_seed = (min if objective.mode == "min" else max)(curves, key=lambda key: curves[key][0].best[-1])
    overall = curves[(best_method, best_seed)][1]
    print(f"\nBest trial of all by {objective.metric}: {best_method} seed {best_seed}")
    print(json.dumps(overall, indent=1, default=str))
    print("\nBest fixed-configuration trial by PacGAN's criteria (final modes, then high-quality share):")
    # PBT's trials change their values while they train: a fixed configuration comes from the others.
    fixed = [f"{dataset}-{m}-s{s}" for m, s in curves if m not in POPULATION]
    print(json.dumps(best_by_pacgan(client, fixed), indent=1))
    drawn = [method for method in METHODS if any(m == method for m, _ in curves)]
    draw(curves, dataset, seeds, objective, charts / chart_name(dataset, objective.metric, steps, drawn, spec_keys))
    print(f"machine: {platform.machine()}, Python {platform.python_version()}")


def draw(curves: dict, dataset: str, seeds: list[int], objective: Objective, out: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4.2), dpi=100)
    colours = {method: plt.get_cmap("tab10")(n) for n, method in enumerate(METHODS)}
    for (method, seed), (curve, _) in curves.items():
        axis.step([s / 1000 for s in curve.steps], curve.best, where="post", color=colours[method],
                  label=method if seed == seeds[0] else None, alpha=0.8)
    axis.set(xlabel="training steps spent, all trials (thousands)", ylabel=f"best {objective.metric} so far",
             yscale="log" if objective.mode == "min" else "linear",
             title=f"{dataset}: search efficiency, seeds {', '.join(map(str, seeds))}")
    axis.legend()
    figure.tight_layout()
    figure.savefig(out)
    print(f"chart: {out}")


def positive_multiple_of_eval_every(text: str) -> int:
    steps = int(text)
    if steps <= 0 or steps % EVAL_EVERY:
        raise argparse.ArgumentTypeError(f"{steps} is not a positive multiple of {EVAL_EVERY}, the evaluation interval")
    return steps


def spec_key(text: str) -> str:
    """A --set KEY=VALUE, refused where it would change what the compute count assumes."""
    key = text.partition("=")[0].strip()
    if key in ("trial.train.steps", "trial.train.eval_every"):
        raise argparse.ArgumentTypeError(f"{key}: use --steps; every evaluation is counted as {EVAL_EVERY} steps")
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=sorted(SPACES), required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/search-bench"))
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS),
                        help="run only these methods' missing sweeps (the summary reads every finished one)")
    parser.add_argument("--metric", choices=sorted(OBJECTIVES), default="fid",
                        help="what the sweeps rank on and the curves follow (default fid)")
    parser.add_argument("--steps", type=positive_multiple_of_eval_every, default=STEPS,
                        help=f"a trial's length (PBT's members: twice it), a multiple of {EVAL_EVERY} (default "
                             f"{STEPS}); longer trials give ASHA more rungs to stop trials at")
    parser.add_argument("--set", dest="spec_keys", type=spec_key, action="append", default=[], metavar="KEY=VALUE",
                        help="a spec key for every sweep, e.g. --set trial.train.g_ema=0.99 (repeatable)")
    parser.add_argument("--summary-only", action="store_true", help="only read the finished sweeps back")
    parser.add_argument("--charts", type=Path, default=Path(__file__).resolve().parent,
                        help="the folder the chart goes to (default: benchmarks/, where RESULTS.md's charts are), "
                             "named from the dataset, metric, trial length, the methods drawn and the --set keys")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    objective = OBJECTIVES[args.metric]
    if not args.summary_only:
        run_missing(args.dataset, args.seeds, args.methods, args.workdir, objective, args.steps, args.spec_keys)
    summarize(args.dataset, args.seeds, args.workdir, objective, args.charts, args.steps, args.spec_keys)
    return 0


if __name__ == "__main__":
    sys.exit(main())
