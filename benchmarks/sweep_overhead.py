"""Sweep overhead: the wall time of an 8-trial sweep (`python -m pipeline.sweep`: Ray Tune, MLflow,
checkpoints, the report) against the same 8 trials as bare PyTorch loops in plain processes, 2 at a
time in both (2 cores, one thread a trial; `--parallel 1` runs one at a time in both, leaving Ray's
own processes a core to themselves).

    python benchmarks/sweep_overhead.py [--steps 1000 3000] [--parallel 2] [--workdir /tmp/sweep-overhead] \
        [--fresh-processes]

The 8 trials: ring8's spec over a 2 x 2 x 2 grid of both learning rates and D's dropout. The bare
loops come twice: training alone, and training with the same evaluations (the pipeline's metric
functions on the same sample count every eval_every steps), which any honest study also runs. Two
trial lengths separate the sweep's fixed cost (start-up, report) from its per-step cost, which
gives the trial length at which the sweep is within 1.10x of the bare loops.

Target (issue 8): at most 1.10x.
"""

from __future__ import annotations

import argparse
import multiprocessing
import platform
import sys
import time
from pathlib import Path

import torch
from mlflow.tracking import MlflowClient
from search_efficiency import sweep_runs  # this folder's: the script's own directory is on sys.path
from sweep_cli import SPECS, run_sweep, tracking_uri
from trial_overhead import BareLoop

from pipeline.core.data import load_dataset
from pipeline.core.gan import generate
from pipeline.core.metrics import Evaluator
from pipeline.spec.config import with_values
from pipeline.spec.loading import load_spec
from pipeline.sweep.space import grid_points

SPEC = SPECS / "ring8.yaml"
GRID = "{optim.g.lr: {grid: [3.0e-4, 1.0e-3]}, optim.d.lr: {grid: [3.0e-4, 1.0e-3]}, model.dropout: {grid: [0.0, 0.3]}}"
PARALLEL = 2  # trials at once by default: the machine's cores, one thread each
EVAL_EVERY = 250  # ring8's own


def overrides(steps: int, parallel: int) -> list[str]:
    return [f"trial.train.steps={steps}", f"trial.train.eval_every={EVAL_EVERY}", f"parameters={GRID}",
            f"search.max_concurrent={parallel}", "resources.cpus_per_worker=1"]


def sweep_seconds(steps: int, parallel: int, workdir: Path, reuse_actors: bool) -> tuple[float, float]:
    """The sweep's wall time, and its trials' own: their MLflow runs' durations summed, over `parallel`."""
    folder = workdir / f"sweep-{steps}-x{parallel}"
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    extra = [f"resources.reuse_actors={str(reuse_actors).lower()}"]
    run_sweep(SPEC, folder, overrides(steps, parallel) + extra, log=folder / "sweep.log", db="ml.db")
    return time.perf_counter() - started, trials_seconds(folder) / parallel


def trials_seconds(folder: Path) -> float:
    """The sweep's trial runs' MLflow durations (start to end: all a trial does inside Tune), summed."""
    client = MlflowClient(tracking_uri(folder, "ml.db"))
    _, trials = sweep_runs(client, load_spec(SPEC).name)
    infos = [client.get_run(run_id).info for run_id in trials["run_id"]]
    return sum(info.end_time - info.start_time for info in infos) / 1000


def bare_trial(args: tuple[dict, int, bool]) -> None:
    """One trial as the plain loop of a tutorial (trial_overhead.py's), optionally evaluated."""
    values, steps, evaluate = args
    torch.set_num_threads(1)
    # max_concurrent is no trial key: any parallelism gives the same trial
    trial = with_values(load_spec(SPEC, overrides(steps, PARALLEL)).trial, values)
    dataset = load_dataset(trial.dataset)
    evaluator = Evaluator(dataset, trial.eval.samples) if evaluate else None
    loop = BareLoop(trial, dataset)
    for _ in range(trial.train.steps // trial.train.eval_every):
        loop.run(trial.train.eval_every)
        if evaluator:
            evaluator.evaluate(generate(loop.generator, torch.randn(trial.eval.samples, trial.model.latent_dim)))


def bare_seconds(steps: int, parallel: int, evaluate: bool) -> float:
    points = grid_points(load_spec(SPEC, overrides(steps, parallel)))
    started = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(parallel) as pool:
        pool.map(bare_trial, [(point, steps, evaluate) for point in points], chunksize=1)
    return time.perf_counter() - started


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=positive_int, nargs="+", default=[1000, 3000], metavar="STEPS",
                        help="trial lengths, one table row each; the first two also give the fit (default 1000 3000)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/sweep-overhead"))
    parser.add_argument("--fresh-processes", action="store_true",
                        help="a new process for every trial (resources.reuse_actors=false), as Tune's default")
    parser.add_argument("--parallel", type=positive_int, default=PARALLEL,
                        help=f"trials at once in the sweep and in the bare loops' pool (default {PARALLEL})")
    args = parser.parse_args()
    if len(args.steps) > 1 and args.steps[0] == args.steps[1]:
        parser.error("--steps: the first two lengths give the fit, so they must differ")
    print(f"{platform.machine()}, Python {platform.python_version()}, {args.parallel} trials at a time")
    print("| steps per trial | bare loops (s) | bare loops + evaluations (s) | sweep (s) | sweep / bare "
          "| sweep / bare + evaluations | trials' own (s) | trials' own / bare + evaluations |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    rows = []
    for steps in args.steps:
        bare = bare_seconds(steps, args.parallel, evaluate=False)
        evaluated = bare_seconds(steps, args.parallel, evaluate=True)
        sweep, trials_own = sweep_seconds(steps, args.parallel, args.workdir, not args.fresh_processes)
        rows.append((bare, evaluated, sweep))
        print(f"| {steps} | {bare:.1f} | {evaluated:.1f} | {sweep:.1f} | {sweep / bare:.2f} "
              f"| {sweep / evaluated:.2f} | {trials_own:.1f} | {trials_own / evaluated:.2f} |", flush=True)
    if len(rows) < 2:
        return 0
    (_, short_eval, short_sweep), (_, long_eval, long_sweep) = rows[:2]
    per_step = (long_sweep - short_sweep) / (long_eval - short_eval)  # sweep seconds per bare(+eval) second
    fixed = short_sweep - per_step * short_eval
    print(f"\nsweep = {fixed:.0f} s fixed + {per_step:.3f} x bare-with-evaluations time")
    if per_step < 1.10:
        needed = fixed / (1.10 - per_step)
        print(f"within 1.10x once the bare trials (with evaluations) take {needed:.0f} s of wall time "
              f"({needed * args.parallel / 8:.0f} s per trial)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
