"""The GAN training loop of one trial. It imports neither ray nor mlflow: it talks to the outside
only through a `Reporter`, so it runs and tests alone.

    python -m pipeline.train search_spaces/ring8.yaml --set trial.train.steps=300

runs the spec's fixed trial (no sweep, no Ray, no MLflow) and prints each evaluation.
"""

from __future__ import annotations

import argparse
import copy
import math
import sys
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from torch import nn

from pipeline import metric_names as names
from pipeline.config import ConfigError, OptimizerConfig, TrialConfig, load_spec
from pipeline.data import BatchSampler, GanDataset, load_dataset
from pipeline.images import image_grid, scatter_plot
from pipeline.metrics import Evaluator
from pipeline.metrics.classifier import TrainedClassifier, cached_classifier
from pipeline.models import build_models

EVAL_NOISE_SEED = 2**31 - 1  # one fixed latent batch for every evaluation: the grids form a movie
CHECKPOINT_FORMAT = 1


class Reporter(Protocol):
    """Where a trial's evaluations go: Ray Tune and MLflow in a sweep, the terminal alone."""

    def report(self, step: int, metrics: dict[str, float], images: dict[str, np.ndarray], checkpoint: dict) -> None: ...


class Diverged(RuntimeError):
    """A loss became NaN or infinite: the trial cannot continue."""


@dataclass
class GanState:
    """Everything a checkpoint holds: both networks, both optimizers, the data order and the step."""

    generator: nn.Module
    discriminator: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    sampler: BatchSampler
    noise: torch.Generator
    step: int = 0


def build_optimizer(config: OptimizerConfig, params) -> torch.optim.Optimizer:
    if config.name == "adam":
        return torch.optim.Adam(params, lr=config.lr, betas=(config.beta1, config.beta2))
    if config.name == "rmsprop":
        return torch.optim.RMSprop(params, lr=config.lr, momentum=config.momentum)
    return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum)


def build_state(config: TrialConfig, dataset: GanDataset, device: torch.device) -> GanState:
    torch.manual_seed(config.train.seed)
    generator, discriminator = (m.to(device) for m in build_models(config.model, dataset.sample_shape))
    return GanState(
        generator,
        discriminator,
        build_optimizer(config.optim.g, generator.parameters()),
        build_optimizer(config.optim.d, discriminator.parameters()),
        BatchSampler(len(dataset), config.train.batch_size, seed=config.train.seed),
        torch.Generator(device=device).manual_seed(config.train.seed + 1),
    )


def state_to_checkpoint(state: GanState, config: TrialConfig, sample_shape: tuple[int, ...]) -> dict:
    """A checkpoint that describes itself: enough to rebuild the generator without the spec.

    A deep copy: state dicts alias the live tensors, which the next step would change.
    """
    return copy.deepcopy({
        "format": CHECKPOINT_FORMAT,
        "config": config.model_dump(),
        "sample_shape": sample_shape,
        "step": state.step,
        "generator": state.generator.state_dict(),
        "discriminator": state.discriminator.state_dict(),
        "opt_g": state.opt_g.state_dict(),
        "opt_d": state.opt_d.state_dict(),
        "sampler": state.sampler.state_dict(),
        "noise_rng": state.noise.get_state(),
        "torch_rng": torch.get_rng_state(),
    })


def load_checkpoint(state: GanState, checkpoint: dict) -> None:
    state.generator.load_state_dict(checkpoint["generator"])
    state.discriminator.load_state_dict(checkpoint["discriminator"])
    state.opt_g.load_state_dict(checkpoint["opt_g"])
    state.opt_d.load_state_dict(checkpoint["opt_d"])
    state.sampler.load_state_dict(checkpoint["sampler"])
    state.noise.set_state(checkpoint["noise_rng"])
    torch.set_rng_state(checkpoint["torch_rng"])
    state.step = checkpoint["step"]


def discriminator_step(state: GanState, real: torch.Tensor, latent_dim: int) -> torch.Tensor:
    """One non-saturating BCE update of D; returns [loss, acc_real, acc_fake] without syncing."""
    z = torch.randn(real.shape[0], latent_dim, device=real.device, generator=state.noise)
    with torch.no_grad():
        fake = state.generator(z)
    real_logits, fake_logits = state.discriminator(real), state.discriminator(fake)
    loss = nn.functional.binary_cross_entropy_with_logits(
        real_logits, torch.ones_like(real_logits)
    ) + nn.functional.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    state.opt_d.zero_grad(set_to_none=True)
    loss.backward()
    state.opt_d.step()
    return torch.stack([loss.detach(), (real_logits > 0).float().mean(), (fake_logits < 0).float().mean()])


def generator_step(state: GanState, batch_size: int, latent_dim: int, device: torch.device) -> torch.Tensor:
    """One non-saturating update of G: maximise log D(G(z))."""
    z = torch.randn(batch_size, latent_dim, device=device, generator=state.noise)
    logits = state.discriminator(state.generator(z))
    loss = nn.functional.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
    state.opt_g.zero_grad(set_to_none=True)
    loss.backward()
    state.opt_g.step()
    return loss.detach()


@torch.no_grad()
def generate(generator: nn.Module, noise: torch.Tensor, batch: int = 500) -> torch.Tensor:
    generator.eval()
    samples = torch.cat([generator(chunk) for chunk in noise.split(batch)])
    generator.train()
    return samples


def sample_picture(samples: torch.Tensor, dataset: GanDataset) -> np.ndarray:
    return image_grid(samples) if dataset.is_image else scatter_plot(samples, dataset.centres)


def train(
    config: TrialConfig,
    reporter: Reporter,
    *,
    classifier: TrainedClassifier | None = None,
    checkpoint: dict | None = None,
    device: str | torch.device = "cpu",
) -> dict[str, float]:
    """Train one GAN, reporting every `eval_every` steps; returns the last evaluation's metrics.

    `classifier` is the digit feature network (shared by the sweep; loaded from the cache if None).
    `checkpoint` resumes a run: training continues from its step with its exact state.
    """
    device = torch.device(device)
    dataset = load_dataset(config.dataset)
    if dataset.is_image and classifier is None:
        classifier = cached_classifier(dataset)
    evaluator = Evaluator(dataset, config.eval.samples, classifier)
    real_points = dataset.points.to(device)
    state = build_state(config, dataset, device)
    if checkpoint is not None:
        load_checkpoint(state, checkpoint)
    eval_noise = torch.randn(
        config.eval.samples, config.model.latent_dim, generator=torch.Generator().manual_seed(EVAL_NOISE_SEED)
    ).to(device)
    latent_dim, batch_size = config.model.latent_dim, config.train.batch_size
    totals = torch.zeros(4, device=device)  # loss_d, acc_real, acc_fake, loss_g since the last evaluation
    steps_since_eval = 0
    metrics: dict[str, float] = {}
    while state.step < config.train.steps:
        for _ in range(config.train.d_steps):
            real = real_points[state.sampler.next_indices().to(device)]
            totals[:3] += discriminator_step(state, real, latent_dim) / config.train.d_steps
        totals[3] += generator_step(state, batch_size, latent_dim, device)
        state.step += 1
        steps_since_eval += 1
        if state.step % config.train.eval_every == 0 or state.step == config.train.steps:
            metrics = losses_to_metrics(totals / steps_since_eval)
            samples = generate(state.generator, eval_noise)
            metrics.update(evaluator.evaluate(samples))
            images = {names.SAMPLES_IMAGE: sample_picture(samples, dataset)}
            reporter.report(state.step, metrics, images, state_to_checkpoint(state, config, dataset.sample_shape))
            totals.zero_()
            steps_since_eval = 0
    return metrics


def losses_to_metrics(means: torch.Tensor) -> dict[str, float]:
    loss_d, acc_real, acc_fake, loss_g = means.tolist()
    if not (math.isfinite(loss_d) and math.isfinite(loss_g)):
        raise Diverged(f"non-finite loss: loss_d={loss_d}, loss_g={loss_g}")
    return {names.LOSS_D: loss_d, names.LOSS_G: loss_g, names.D_ACC_REAL: acc_real, names.D_ACC_FAKE: acc_fake}


class PrintReporter:
    """Prints each evaluation: for `python -m pipeline.train` and debugging."""

    def report(self, step: int, metrics: dict[str, float], images: dict[str, np.ndarray], checkpoint: dict) -> None:
        shown = ", ".join(f"{key}={value:.4g}" for key, value in metrics.items())
        print(f"step {step}: {shown}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.train",
        description="Train the fixed trial of a search-space file once, without Ray or MLflow, "
        "printing each evaluation.",
    )
    parser.add_argument("spec", help="search-space YAML file; its `trial` section is trained, `parameters` ignored")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a key of the file, e.g. --set trial.train.steps=300 (repeatable)")
    args = parser.parse_args(argv)
    try:
        spec = load_spec(args.spec, args.overrides)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    train(spec.trial, PrintReporter(), device="cuda" if torch.cuda.is_available() else "cpu")
    return 0


if __name__ == "__main__":
    sys.exit(main())
