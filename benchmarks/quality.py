"""Quality found: one configuration retrained with 10 seeds, beside PacGAN's published table.

    python benchmarks/quality.py --dataset ring8 --set optim.g.lr=0.001 --set optim.d.lr=0.0003 ...
    python benchmarks/quality.py --dataset grid25 --set model.pack=2 ... [--steps 3000]

The configuration is the dataset's shipped spec with the given trial keys set (the best trial of
benchmarks/search_efficiency.py, for issue 8); the 10 seeds run as one sweep over
`trial.train.seed` through `python -m pipeline.sweep` (Ray Tune, MLflow in the workdir). Each seed's
last evaluation gives modes, high-quality fraction and reverse KL, measured as in PacGAN (Lin et al.
2018, table 1): 2,500 samples, a sample is high quality within 3 standard deviations of its nearest
mode, a mode is covered by high-quality samples (see pipeline/core/metrics/modes.py for the one
difference: our reverse KL assigns every sample to its nearest mode).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from mlflow.tracking import MlflowClient
from search_efficiency import sweep_runs  # this folder's: the script's own directory is on sys.path
from sweep_cli import SPECS, run_sweep, tracking_uri

from pipeline.spec import metric_names as names

SEEDS = list(range(10))
# PacGAN's best rows (Lin et al. 2018, table 1): modes, high-quality samples, reverse KL.
PACGAN = {
    "ring8": ("PacGAN2", 7.9, 0.956, 0.07),
    "grid25": ("PacGAN4", 24.8, 0.936, 0.04),
}


def run_seeds(dataset: str, trial_keys: list[str], steps: int, workdir: Path) -> None:
    experiment = f"quality-{dataset}"
    overrides = [f"trial.train.steps={steps}", "search={algorithm: grid, max_concurrent: 2}", "scheduler={name: fifo}",
                 f"parameters={{train.seed: {{grid: {SEEDS}}}}}", *(f"trial.{key}" for key in trial_keys)]
    run_sweep(SPECS / f"{dataset}.yaml", workdir, overrides, log=workdir / f"{experiment}.log", experiment=experiment)


def final_metrics(tracking_uri: str, experiment_name: str) -> list[dict[str, float]]:
    """Each seed's last evaluation, with its "seed" and "steps" (from the run's parameters), in seed order."""
    _, trials = sweep_runs(MlflowClient(tracking_uri), experiment_name)
    trials = trials.sort_values("params.train.seed", key=lambda seeds: seeds.astype(int))
    keys = (names.MODES, names.HQ_FRACTION, names.MODE_KL, names.FID)
    return [{"seed": int(row["params.train.seed"]), "steps": int(row["params.train.steps"]),
             **{key: float(row[f"metrics.{key}"]) for key in keys}} for _, row in trials.iterrows()]


def mean_sd(values: list[float], percent: bool = False) -> str:
    if percent:
        return f"{statistics.mean(values):.1%} +- {statistics.stdev(values):.1%}"
    return f"{statistics.mean(values):.3g} +- {statistics.stdev(values):.2g}"


def print_summary(dataset: str, rows: list[dict[str, float]], trial_keys: list[str]) -> None:
    """The markdown table RESULTS.md holds, beside PacGAN's row, and each seed's modes and sharpness."""
    column = {key: [r[key] for r in rows] for key in rows[0]}
    steps = " or ".join(str(s) for s in sorted(set(column["steps"])))
    configuration = f", configuration: {' '.join(trial_keys)}" if trial_keys else ""
    print(f"{dataset}, {len(rows)} seeds, {steps} steps{configuration}\n")
    print("| | modes | high-quality samples | reverse KL | fid |")
    print("|---|---:|---:|---:|---:|")
    print(f"| ours, mean +- sd | {mean_sd(column[names.MODES])} | {mean_sd(column[names.HQ_FRACTION], percent=True)} "
          f"| {mean_sd(column[names.MODE_KL])} | {mean_sd(column[names.FID])} |")
    name, modes, hq, kl = PACGAN[dataset]
    print(f"| {name} (published) | {modes} | {hq:.1%} | {kl} | |")
    # the range between seeds says more than the sd when one seed is far from the others
    print(f"\nper seed ({' '.join(str(s) for s in column['seed'])}): "
          f"modes {' '.join(f'{m:g}' for m in column[names.MODES])}; "
          f"high-quality samples {' '.join(f'{q:.1%}' for q in column[names.HQ_FRACTION])}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=sorted(PACGAN), required=True)
    parser.add_argument("--set", dest="trial_keys", action="append", default=[], metavar="KEY=VALUE",
                        help="a trial key of the configuration, e.g. --set optim.d.lr=0.0003 (repeatable)")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/quality-bench"))
    parser.add_argument("--summary-only", action="store_true", help="only read the newest finished run back")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    experiment = f"quality-{args.dataset}"
    if not args.summary_only:
        run_seeds(args.dataset, args.trial_keys, args.steps, args.workdir)
    print_summary(args.dataset, final_metrics(tracking_uri(args.workdir), experiment), args.trial_keys)
    return 0


if __name__ == "__main__":
    sys.exit(main())
