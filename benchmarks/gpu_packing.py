"""Trials packed on one GPU: samples per second of 1 trial alone against 2, 4 and 8 trials sharing the
GPU through fractional `resources.gpus_per_worker` (1/N each), each a real sweep
(`python -m pipeline.sweep`: Ray Tune, MLflow in SQLite, checkpoints, the report).

    python benchmarks/gpu_packing.py [--trials 1 2 4 8] [--steps 6000] [--workdir /tmp/gpu-packing]

The trials: the main job's (search_spaces/dropout.yaml: DCGAN on MNIST, batch 64), N seeds of it.
Each trial's rate is its steps between its first and last report over the trial time between them
(Tune's time_total_s), so actor start-up, data loading and the report stay out; the GPU's rate is the
sum over the trials that ran side by side. The whole sweep's rate (start-up and report in) is beside it.
Needs a CUDA GPU and a CPU core a trial.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from gpu_step_speed import gpu_header  # this folder's: the script's own directory is on sys.path
from sweep_cli import SPECS, run_sweep

SPEC = SPECS / "dropout.yaml"
BATCH = 64  # dropout.yaml's own


def overrides(trials: int, steps: int) -> list[str]:
    seeds = ", ".join(str(seed) for seed in range(trials))
    return [f"trial.train.steps={steps}", f"trial.train.eval_every={steps // 5}", f"trial.train.batch_size={BATCH}",
            f"parameters={{train.seed: {{grid: [{seeds}]}}}}", f"search.max_concurrent={trials}",
            f"resources.gpus_per_worker={1 / trials}", "resources.cpus_per_worker=1"]


def trial_rate(result_file: Path) -> float:
    """Steps per second of one trial between its first and last report."""
    results = [json.loads(line) for line in result_file.read_text().splitlines() if line.strip()]
    first, last = results[0], results[-1]
    return (last["step"] - first["step"]) / (last["time_total_s"] - first["time_total_s"])


def packed_sweep(trials: int, steps: int, workdir: Path) -> tuple[list[float], float]:
    """(each trial's steps per second, the sweep's wall time) for `trials` trials sharing the GPU."""
    folder = workdir / f"packed-{trials}"
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    run_sweep(SPEC, folder, overrides(trials, steps), log=folder / "sweep.log")
    wall = time.perf_counter() - started
    result_files = sorted((folder / "ray_results").glob("*/*/result.json"))
    if len(result_files) != trials:
        raise RuntimeError(f"{folder}: {len(result_files)} trial results, expected {trials}")
    return [trial_rate(path) for path in result_files], wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--steps", type=int, default=6000, help="steps per trial")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/gpu-packing"))
    args = parser.parse_args()
    header = gpu_header()
    if header is None:
        return 2
    print(f"{header}, {args.steps} steps a trial, batch {BATCH}")
    print("| trials on the GPU | gpus_per_worker | steps/s a trial | GPU samples/s | vs. 1 trial "
          "| sweep wall (s) | sweep samples/s |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    alone = None
    for trials in args.trials:
        rates, wall = packed_sweep(trials, args.steps, args.workdir)
        total = sum(rates) * BATCH
        alone = alone or total
        print(f"| {trials} | {1 / trials:.3g} | {sum(rates) / trials:.0f} | {total:,.0f} | {total / alone:.2f} "
              f"| {wall:.0f} | {trials * args.steps * BATCH / wall:,.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
