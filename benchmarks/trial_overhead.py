"""Trial overhead: training steps per second of the pipeline's step functions (what `train.train` runs
between evaluations: its batch sampler, D and G steps with their loss bookkeeping, lr schedules)
against a bare PyTorch loop with the same models, data, batch size, optimizers and loss, side by side.

    python benchmarks/trial_overhead.py [--steps 300] [--repeats 3] [--specs search_spaces/ring8.yaml]

Target (issue 8): pipeline / bare >= 0.97 outside evaluation steps. One thread, as a trial with
cpus_per_worker 1 runs; the two loops alternate, and each figure is the median of the repeats.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch
from torch.nn.functional import binary_cross_entropy_with_logits as bce
from torch.nn.functional import softplus

from pipeline.data import load_dataset
from pipeline.gan import GanState, advance_schedules, build_state, discriminator_step, generator_step, real_batch
from pipeline.models import build_models
from pipeline.spec_file import load_spec

SPECS = ("search_spaces/dropout.yaml", "search_spaces/ring8.yaml")
CPU = torch.device("cpu")


def pipeline_steps(trial, dataset, steps: int, state: GanState | None = None) -> float:
    """Seconds for `steps` steps of the pipeline's own loop body (train.py without its evaluations),
    from a fresh state unless one is given."""
    state = state or build_state(trial, dataset, CPU)
    totals = torch.zeros(4)
    started = time.perf_counter()
    for _ in range(steps):
        for _ in range(trial.train.d_steps):
            totals[:3] += discriminator_step(state, real_batch(state, dataset.points, CPU), trial) / trial.train.d_steps
        totals[3] += generator_step(state, trial, CPU)
        advance_schedules(state, trial)
    return time.perf_counter() - started


class BareLoop:
    """The same GAN written as the plain PyTorch loop of a tutorial (non-saturating loss, Adam)."""

    def __init__(self, trial, dataset):
        torch.manual_seed(trial.train.seed)
        self.generator, self.discriminator = build_models(trial.model, dataset.sample_shape)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=trial.optim.g.lr,
                                      betas=(trial.optim.g.beta1, trial.optim.g.beta2))
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=trial.optim.d.lr,
                                      betas=(trial.optim.d.beta1, trial.optim.d.beta2))
        self.points, self.batch, self.latent = dataset.points, trial.train.batch_size, trial.model.latent_dim
        self.order, self.position = torch.randperm(len(self.points)), 0

    def run(self, steps: int) -> float:
        """Seconds for `steps` more steps."""
        batch, latent, generator, discriminator = self.batch, self.latent, self.generator, self.discriminator
        started = time.perf_counter()
        for _ in range(steps):
            if self.position + batch > len(self.points):
                self.order, self.position = torch.randperm(len(self.points)), 0
            real = self.points[self.order[self.position : self.position + batch]]
            self.position += batch
            with torch.no_grad():
                fake = generator(torch.randn(batch, latent))
            real_out, fake_out = discriminator(real), discriminator(fake)
            loss_d = bce(real_out, torch.ones_like(real_out)) + bce(fake_out, torch.zeros_like(fake_out))
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            self.opt_d.step()
            loss_g = softplus(-discriminator(generator(torch.randn(batch, latent)))).mean()
            self.opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            self.opt_g.step()
        return time.perf_counter() - started


def bare_steps(trial, dataset, steps: int) -> float:
    return BareLoop(trial, dataset).run(steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--specs", nargs="+", default=list(SPECS))
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"{platform.machine()}, torch {torch.__version__}, 1 thread, {args.steps} steps, median of {args.repeats}")
    print("| spec | bare loop (steps/s) | pipeline (steps/s) | pipeline / bare |")
    print("|---|---:|---:|---:|")
    for path in args.specs:
        trial = load_spec(path).trial
        assert trial.train.loss == "ns" and trial.optim.g.name == trial.optim.d.name == "adam", path
        dataset = load_dataset(trial.dataset)
        bare_steps(trial, dataset, 20)  # warm-up
        pipeline_steps(trial, dataset, 20)
        bare, ours = [], []
        for _ in range(args.repeats):
            bare.append(args.steps / bare_steps(trial, dataset, args.steps))
            ours.append(args.steps / pipeline_steps(trial, dataset, args.steps))
        b, o = statistics.median(bare), statistics.median(ours)
        print(f"| {path} | {b:.1f} | {o:.1f} | {o / b:.3f} |", flush=True)


if __name__ == "__main__":
    main()
