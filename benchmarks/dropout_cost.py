"""What D's dropout costs a training step on CPU: torch's nn.Dropout against the pipeline's Dropout.

    python benchmarks/dropout_cost.py [--steps 200] [--repeats 3] [--rates 0.0 0.4]

torch's CPU dropout draws its mask with `bernoulli_` (about 20 ns an element on this machine), the
pipeline's with `rand_like` (about 7 ns); everything else in the step is the same. Steps are the
pipeline's own loop body (D step, G step, schedules), one thread as a trial with cpus_per_worker 1;
the variants alternate and each figure is the median of the repeats. The loop is
trial_overhead.py's `pipeline_steps`.
"""

from __future__ import annotations

import argparse
import platform
import statistics

import torch
from torch import nn
from trial_overhead import CPU, pipeline_steps  # this folder's: the script's own directory is on sys.path

from pipeline.core.data import load_dataset
from pipeline.core.gan import build_state
from pipeline.core.models import Dropout
from pipeline.spec.config import with_values
from pipeline.spec.loading import load_spec

SPECS = ("search_spaces/dropout.yaml", "search_spaces/ring8.yaml")


def with_torch_dropout(module: nn.Module) -> None:
    """Replace every pipeline Dropout in `module` by torch's own, with the same rate."""
    for name, child in module.named_children():
        if isinstance(child, Dropout):
            setattr(module, name, nn.Dropout(child.p))
        else:
            with_torch_dropout(child)


def steps_per_second(trial, dataset, steps: int, torch_dropout: bool) -> float:
    state = build_state(trial, dataset, CPU)
    if torch_dropout:
        with_torch_dropout(state.discriminator)
    return steps / pipeline_steps(trial, dataset, steps, CPU, state)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rates", type=float, nargs="+", default=[0.0, 0.4])
    parser.add_argument("--specs", nargs="+", default=list(SPECS))
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"{platform.machine()}, torch {torch.__version__}, 1 thread, {args.steps} steps, median of {args.repeats}")
    print("| spec | D dropout | torch nn.Dropout (steps/s) | pipeline Dropout (steps/s) | speed-up |")
    print("|---|---:|---:|---:|---:|")
    for path in args.specs:
        base = load_spec(path).trial
        dataset = load_dataset(base.dataset)
        for rate in args.rates:
            trial = with_values(base, {"model.dropout": rate})
            steps_per_second(trial, dataset, 10, True)  # warm-up
            theirs, ours = [], []
            for _ in range(args.repeats):
                theirs.append(steps_per_second(trial, dataset, args.steps, True))
                ours.append(steps_per_second(trial, dataset, args.steps, False))
            t, o = statistics.median(theirs), statistics.median(ours)
            print(f"| {path} | {rate} | {t:.1f} | {o:.1f} | {o / t:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
