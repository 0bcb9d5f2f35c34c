"""GPU training speed of one trial: samples per second of the pipeline's own loop body (what
`train.train` runs between evaluations) with bf16 autocast and torch.compile off and on, for the main
job's DCGAN (MNIST, 28 px), a full-size DCGAN (64 px RGB, width 64: the DCGAN paper's network) and
ring8's MLP; then what limits it: kernels launched a step and the GPU's busy share (torch.profiler),
how the time per step moves when the batch grows 8x, and one evaluation against the training between two.

    python benchmarks/gpu_step_speed.py [--seconds 3] [--workloads dcgan28 dcgan64 mlp]

The 64 px data: stacked-MNIST digits (three digits as the RGB channels) upsampled to 64 x 64, because
neither machine can fetch CelebA or LSUN; the data sits on the GPU, so its content does not change the
speed. Needs a CUDA GPU.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from dataclasses import replace

import torch
from sweep_cli import SPECS  # this folder's: the script's own directory is on sys.path
from torch.nn.functional import interpolate
from trial_overhead import pipeline_steps

from pipeline.core.data import GanDataset, load_dataset
from pipeline.core.gan import GanState, build_state
from pipeline.core.train import build_evaluator, evaluate_and_report
from pipeline.spec.config import TrialConfig
from pipeline.spec.loading import load_spec

CUDA = torch.device("cuda")
WORKLOADS = {  # name -> (spec, overrides): each as a user would write it in the search-space file
    "dcgan28": (SPECS / "dropout.yaml", []),  # the main job's trial, batch 64
    "dcgan64": (SPECS / "dropout.yaml", ["trial.dataset={name: stacked_mnist}", "trial.model.width=64",
                                         "trial.train.batch_size=128"]),  # upsampled to 64 px below
    "mlp": (SPECS / "ring8.yaml", ["trial.train.batch_size=1024"]),  # the tuned ring8 recipe's batch
}
WARMUP_STEPS = 30  # compilation (twice for G: with and without grad) and cuDNN's algorithm search happen here
PROFILED_STEPS = 50


def upsampled(stacked: GanDataset) -> GanDataset:
    """Stacked MNIST (three digits as RGB) at 64 x 64: a full-size DCGAN's input without a download."""
    big = interpolate(stacked.points, size=(64, 64), mode="bilinear", align_corners=False).clamp_(-1, 1)
    return replace(stacked, points=big.contiguous())


def workload(name: str, bf16: bool, compiled: bool, batch_scale: int = 1) -> tuple[TrialConfig, GanDataset]:
    spec, overrides = WORKLOADS[name]
    batch = load_spec(spec, overrides).trial.train.batch_size * batch_scale
    trial = load_spec(spec, [*overrides, f"trial.train.bf16={str(bf16).lower()}",
                             f"trial.train.compile={str(compiled).lower()}", f"trial.train.batch_size={batch}"]).trial
    dataset = load_dataset(trial.dataset)
    return trial, upsampled(dataset) if name == "dcgan64" else dataset


def on_gpu(dataset: GanDataset) -> GanDataset:
    """The dataset with its points on the GPU once, so each timed window moves no data."""
    return replace(dataset, points=dataset.points.to(CUDA))


def steps_per_second(state: GanState, trial: TrialConfig, data: GanDataset, seconds: float) -> float:
    """Median of 3 timed windows of about `seconds` each, after the warm-up."""
    pipeline_steps(trial, data, WARMUP_STEPS, CUDA, state)
    probe = max(10, int(20 / pipeline_steps(trial, data, 20, CUDA, state)))  # steps in about a second
    steps = max(20, int(probe * seconds))
    return statistics.median(steps / pipeline_steps(trial, data, steps, CUDA, state) for _ in range(3))


def measure(name: str, bf16: bool, compiled: bool, seconds: float, batch_scale: int = 1) -> tuple[float, int]:
    """(steps per second, batch size) of one workload variant, from a fresh state."""
    trial, dataset = workload(name, bf16, compiled, batch_scale)
    torch._dynamo.reset()  # each variant compiles from scratch
    state = build_state(trial, dataset, CUDA)
    return steps_per_second(state, trial, on_gpu(dataset), seconds), trial.train.batch_size


def profile_step(name: str) -> tuple[float, float]:
    """(CUDA kernels launched a step, share of wall time the GPU is busy) for the default variant."""
    trial, dataset = workload(name, bf16=False, compiled=False)
    state, data = build_state(trial, dataset, CUDA), on_gpu(dataset)
    pipeline_steps(trial, data, WARMUP_STEPS, CUDA, state)
    activities = [torch.profiler.ProfilerActivity.CPU, torch.profiler.ProfilerActivity.CUDA]
    with torch.profiler.profile(activities=activities) as profiler:
        wall = pipeline_steps(trial, data, PROFILED_STEPS, CUDA, state)
    kernels = [e for e in profiler.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    busy_us = sum(e.device_time_total for e in kernels)
    return len(kernels) / PROFILED_STEPS, busy_us / 1e6 / wall


def evaluation_share(name: str) -> tuple[float, float]:
    """(seconds of one evaluation as a trial runs it: sampling, metrics, pictures, checkpoint copy;
    seconds of the eval_every training steps before it), default variant."""
    trial, dataset = workload(name, bf16=False, compiled=False)
    state, data = build_state(trial, dataset, CUDA), on_gpu(dataset)
    evaluator = build_evaluator(trial.eval, dataset, None)
    noise = torch.randn(trial.eval.samples, trial.model.latent_dim, device=CUDA)

    class Discard:
        def report(self, *args) -> None: ...

    pipeline_steps(trial, data, WARMUP_STEPS, CUDA, state)
    evaluate_and_report(state, trial, dataset, evaluator, noise, {}, Discard())  # warm-up
    training = pipeline_steps(trial, data, trial.train.eval_every, CUDA, state)
    started = time.perf_counter()
    evaluate_and_report(state, trial, dataset, evaluator, noise, {}, Discard())
    torch.cuda.synchronize()
    return time.perf_counter() - started, training


def print_speed_table(names: list[str], seconds: float) -> None:
    print("| workload | batch | bf16 | compile | steps/s | samples/s | vs. plain |")
    print("|---|---:|---|---|---:|---:|---:|")
    for name in names:
        plain = None
        for bf16, compiled in ((False, False), (True, False), (False, True), (True, True)):
            rate, batch = measure(name, bf16, compiled, seconds)
            plain = plain or rate
            print(f"| {name} | {batch} | {'on' if bf16 else 'off'} | {'on' if compiled else 'off'} | {rate:.0f} "
                  f"| {rate * batch:,.0f} | {rate / plain:.2f} |", flush=True)


def print_limits_table(names: list[str], seconds: float) -> None:
    print("\n| workload | kernels a step | GPU busy | s/step at batch x8 / s/step | one evaluation (s) "
          "| eval_every steps (s) | evaluation share |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in names:
        kernels, busy = profile_step(name)
        rate, _ = measure(name, False, False, seconds)
        rate_8x, _ = measure(name, False, False, seconds, batch_scale=8)
        if name == "dcgan64":  # no scorer for stacked digits at 64 px without the Inception weights
            evaluation, training = float("nan"), float("nan")
        else:
            evaluation, training = evaluation_share(name)
        print(f"| {name} | {kernels:.0f} | {busy:.0%} | {rate / rate_8x:.2f} | {evaluation:.3f} | {training:.2f} "
              f"| {evaluation / (evaluation + training):.1%} |", flush=True)


def gpu_header() -> str | None:
    """The GPU, torch and Python versions for a table's header; None (and a message) without a GPU."""
    if not torch.cuda.is_available():
        print("error: needs a CUDA GPU", file=sys.stderr)
        return None
    return f"{torch.cuda.get_device_name()}, torch {torch.__version__}, Python {platform.python_version()}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each timed window")
    parser.add_argument("--workloads", nargs="+", choices=sorted(WORKLOADS), default=list(WORKLOADS))
    parser.add_argument("--skip-speed", action="store_true", help="only the limits table")
    args = parser.parse_args()
    header = gpu_header()
    if header is None:
        return 2
    print(f"{header}, {platform.machine()}")
    if not args.skip_speed:
        print_speed_table(args.workloads, args.seconds)
    print_limits_table(args.workloads, args.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
