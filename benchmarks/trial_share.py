"""Where a trial's wall time goes: training steps, and at each evaluation the sampling, the metrics,
the pictures, the checkpoint (copied and written, as Tune keeps it) and the MLflow logging (SQLite).

    python benchmarks/trial_share.py [--steps dropout=600 ring8=2000]

Runs `pipeline.core.train.train` on each spec's default trial with the trial's own reporter code
(`pipeline.sweep.trial.RayReporter` logging to a real MLflow run), its checkpoint folder copied into a
storage folder as Tune does; the evaluation's parts are timed by wrapping the functions train.py
calls. One thread, as a trial with cpus_per_worker: 1.

Target (issue 8): the parts besides training small (evaluation <= 5% per issue 4, logging <= 2% per issue 6).
"""

from __future__ import annotations

import argparse
import platform
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import torch

import pipeline.core.train as train_module
from pipeline.core.metrics import Evaluator
from pipeline.spec.loading import load_spec
from pipeline.sweep.trial import RayReporter
from pipeline.tracking.sweep_runs import open_sweep
from pipeline.tracking.trial_run import TrialRun

PARTS = ("sampling", "metrics", "pictures", "checkpoint", "logging")


class Stopwatch:
    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)

    def wrap(self, part: str, function: Callable) -> Callable:
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[part] += time.perf_counter() - started
        return timed


def instrument(watch: Stopwatch) -> None:
    """Time what train.train calls at an evaluation (the functions as train.py looks them up)."""
    train_module.generate = watch.wrap("sampling", train_module.generate)
    train_module.evaluation_pictures = watch.wrap("pictures", train_module.evaluation_pictures)
    train_module.state_to_checkpoint = watch.wrap("checkpoint", train_module.state_to_checkpoint)
    Evaluator.evaluate = watch.wrap("metrics", Evaluator.evaluate)


def measure(spec_path: str, steps: int, workdir: Path, watch: Stopwatch) -> dict[str, float]:
    spec = load_spec(spec_path, [f"trial.train.steps={steps}"])
    sweep = open_sweep(spec, spec_path, f"sqlite:///{workdir / 'ml.db'}", f"share-{spec.name}")
    run = TrialRun(sweep, f"share-{spec.name}", spec.name, {"bench": 1})
    storage = workdir / "storage" / spec.name

    def keep_like_tune(result: dict, folder: str | None) -> None:  # Tune copies the folder into storage
        if folder:
            shutil.copytree(folder, storage / f"checkpoint_{result['step']:06d}", dirs_exist_ok=True)

    reporter = RayReporter(run, {}, watch.wrap("checkpoint", keep_like_tune))
    run.log_evaluation = watch.wrap("logging", run.log_evaluation)
    watch.seconds.clear()
    started = time.perf_counter()
    train_module.train(spec.trial, reporter)
    total = time.perf_counter() - started
    return {"total": total, **{part: watch.seconds[part] for part in PARTS}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", nargs="+", default=["dropout=600", "ring8=2000"], metavar="SPEC=STEPS")
    args = parser.parse_args()
    torch.set_num_threads(1)
    watch = Stopwatch()
    instrument(watch)
    print(f"{platform.machine()}, torch {torch.__version__}, 1 thread")
    print("| spec | steps | eval_every | trial (s) | training | sampling | metrics | pictures | checkpoint | logging |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as folder:
        for item in args.steps:
            name, steps = item.split("=")
            spec_path = f"search_spaces/{name}.yaml"
            parts = measure(spec_path, int(steps), Path(folder), watch)
            total = parts["total"]
            training = total - sum(parts[p] for p in PARTS)
            shares = " | ".join(f"{parts[p] / total:.1%}" for p in PARTS)
            every = load_spec(spec_path).trial.train.eval_every
            print(f"| {spec_path} | {steps} | {every} | {total:.1f} | {training / total:.1%} | {shares} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
