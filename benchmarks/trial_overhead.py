"""Trial overhead: training steps per second of the pipeline's step functions (what `train.train` runs
between evaluations: its batch sampler, D and G steps with their loss bookkeeping, lr schedules)
against a bare PyTorch loop with the same models, data, batch size, optimizers and loss, side by side.

    python benchmarks/trial_overhead.py [--steps 300] [--repeats 3] [--specs search_spaces/ring8.yaml]
    python benchmarks/trial_overhead.py --device cuda --steps 2000

Target (issue 8): pipeline / bare >= 0.97 outside evaluation steps. One thread, as a trial with
cpus_per_worker 1 runs; the loops alternate, and each figure is the median of the repeats. On a GPU
the bare loop comes twice: with torch's default Adam (foreach) and with its fused kernel, which the
pipeline uses there.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch
from torch.nn.functional import binary_cross_entropy_with_logits as bce
from torch.nn.functional import softplus

from pipeline.core.data import load_dataset
from pipeline.core.gan import GanState, build_state
from pipeline.core.models import build_models
from pipeline.core.train import train_steps
from pipeline.spec.loading import load_spec

SPECS = ("search_spaces/dropout.yaml", "search_spaces/ring8.yaml")
CPU = torch.device("cpu")


def drained(device: torch.device) -> None:
    """Wait for the device's queued work, so a host clock reads the work's end."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def pipeline_steps(trial, dataset, steps: int, device: torch.device, state: GanState | None = None) -> float:
    """Seconds for `steps` steps of the pipeline's own loop (`train.train_steps`: what `train` runs between
    evaluations), from a fresh state unless one is given."""
    state = state or build_state(trial, dataset, device)
    points = dataset.points.to(device)
    totals = torch.zeros(4, device=device)
    drained(device)
    started = time.perf_counter()
    train_steps(state, trial, points, steps, totals)
    drained(device)
    return time.perf_counter() - started


class BareLoop:
    """The same GAN written as the plain PyTorch loop of a tutorial (non-saturating loss, Adam)."""

    def __init__(self, trial, dataset, device: torch.device = CPU, fused: bool | None = None):
        torch.manual_seed(trial.train.seed)
        generator, discriminator = build_models(trial.model, dataset.sample_shape)
        self.generator, self.discriminator, self.device = generator.to(device), discriminator.to(device), device
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=trial.optim.g.lr,
                                      betas=(trial.optim.g.beta1, trial.optim.g.beta2), fused=fused)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=trial.optim.d.lr,
                                      betas=(trial.optim.d.beta1, trial.optim.d.beta2), fused=fused)
        self.points, self.batch, self.latent = dataset.points.to(device), trial.train.batch_size, trial.model.latent_dim
        self.order, self.position = torch.randperm(len(self.points), device=device), 0

    def run(self, steps: int) -> float:
        """Seconds for `steps` more steps."""
        batch, latent, generator, discriminator = self.batch, self.latent, self.generator, self.discriminator
        device = self.device
        drained(device)
        started = time.perf_counter()
        for _ in range(steps):
            if self.position + batch > len(self.points):
                self.order, self.position = torch.randperm(len(self.points), device=device), 0
            real = self.points[self.order[self.position : self.position + batch]]
            self.position += batch
            with torch.no_grad():
                fake = generator(torch.randn(batch, latent, device=device))
            real_out, fake_out = discriminator(real), discriminator(fake)
            loss_d = bce(real_out, torch.ones_like(real_out)) + bce(fake_out, torch.zeros_like(fake_out))
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            self.opt_d.step()
            loss_g = softplus(-discriminator(generator(torch.randn(batch, latent, device=device)))).mean()
            self.opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            self.opt_g.step()
        drained(device)
        return time.perf_counter() - started


def bare_steps(trial, dataset, steps: int, device: torch.device, fused: bool | None = None) -> float:
    return BareLoop(trial, dataset, device, fused).run(steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--specs", nargs="+", default=list(SPECS))
    parser.add_argument("--device", default="cpu", help="cpu, or cuda for the GPU comparison")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.set_num_threads(1)
    loops = {"bare loop": lambda trial, data: bare_steps(trial, data, args.steps, device)}
    if device.type == "cuda":
        loops["bare loop, fused Adam"] = lambda trial, data: bare_steps(trial, data, args.steps, device, fused=True)
    loops["pipeline"] = lambda trial, data: pipeline_steps(trial, data, args.steps, device)
    print(f"{platform.machine()}, torch {torch.__version__}, {device}, 1 thread, {args.steps} steps, "
          f"median of {args.repeats}")
    print(f"| spec | {' | '.join(f'{name} (steps/s)' for name in loops)} | pipeline / bare |")
    print(f"|---|{'---:|' * len(loops)}---:|")
    for path in args.specs:
        trial = load_spec(path).trial
        assert trial.train.loss == "ns" and trial.optim.g.name == trial.optim.d.name == "adam", path
        dataset = load_dataset(trial.dataset)
        rates = {name: [] for name in loops}
        for loop in loops.values():  # warm-up: cuDNN's algorithm choice, lazy CUDA initialisation
            loop(trial, dataset)
        for _ in range(args.repeats):
            for name, loop in loops.items():
                rates[name].append(args.steps / loop(trial, dataset))
        medians = {name: statistics.median(values) for name, values in rates.items()}
        bare = medians["bare loop, fused Adam" if device.type == "cuda" else "bare loop"]
        shown = " | ".join(f"{value:.1f}" for value in medians.values())
        print(f"| {path} | {shown} | {medians['pipeline'] / bare:.3f} |", flush=True)


if __name__ == "__main__":
    main()
