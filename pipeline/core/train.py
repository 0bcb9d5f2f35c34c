"""The GAN training loop of one trial. It imports neither ray nor mlflow: it talks to the outside
only through a `Reporter`, so it runs and tests alone.

    python -m pipeline.train search_spaces/ring8.yaml --set trial.train.steps=300

runs the spec's fixed trial (no sweep, no Ray, no MLflow) and prints each evaluation.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import replace
from typing import Protocol

import numpy as np
import torch

from pipeline.core.data import DatasetError, GanDataset, load_dataset
from pipeline.core.gan import (
    GanState,
    advance_schedules,
    apply_hyperparameters,
    build_state,
    discriminator_step,
    generate,
    generator_step,
    load_checkpoint,
    real_batch,
    sampling_generator,
    state_to_checkpoint,
)
from pipeline.core.images import histogram_plot, image_grid, scatter_plot
from pipeline.core.metrics import Evaluator
from pipeline.core.metrics.classifier import TrainedClassifier, cached_classifier
from pipeline.core.metrics.evaluator import digit_source, needs_classifier, needs_inception
from pipeline.core.metrics.inception import FIDInception, fid_inception_weights, load_fid_inception
from pipeline.core.metrics.real_side import RealSide
from pipeline.core.parallel import DataParallel
from pipeline.spec import metric_names as names
from pipeline.spec.config import ConfigError, EvalConfig, TrialConfig
from pipeline.spec.feature_spaces import INCEPTION
from pipeline.spec.loading import load_spec

EVAL_NOISE_SEED = 2**31 - 1  # one fixed latent batch for every evaluation: the grids form a movie
DIVERGED_LOSS = 1e6  # a mean loss past this means logits (or critic values) of that size: nothing learns there


class Reporter(Protocol):
    """Where a trial's evaluations go: Ray Tune and MLflow in a sweep, the terminal alone.

    In a data-parallel trial every worker reports each evaluation (Ray Train's report is collective),
    but only rank 0 has the evaluation's metrics, images and checkpoint: the others report the
    averaged losses, no images and checkpoint None.
    """

    def report(
        self, step: int, metrics: dict[str, float], images: dict[str, np.ndarray], checkpoint: dict | None
    ) -> None: ...


class Diverged(RuntimeError):
    """A loss or the samples became NaN or infinite: the trial cannot continue."""


def sample_picture(samples: torch.Tensor, dataset: GanDataset) -> np.ndarray:
    """A sheet of images; a scatter over the mixture's centres; or a table's first two columns in its units."""
    if dataset.is_image:
        return image_grid(samples)
    if dataset.centres is not None:
        return scatter_plot(samples, centres=dataset.centres)
    columns = (*dataset.columns, "")[:2] if dataset.columns else None
    return scatter_plot(dataset.to_original_units(samples.cpu()), real=dataset.to_original_units(dataset.points),
                        labels=columns)


def train(
    config: TrialConfig,
    reporter: Reporter,
    *,
    classifier: TrainedClassifier | None = None,
    checkpoint: dict | None = None,
    device: str | torch.device = "cpu",
    parallel: DataParallel | None = None,
    dataset: GanDataset | None = None,
    real: RealSide | None = None,
    inception: FIDInception | None = None,
) -> dict[str, float]:
    """Train one GAN, reporting every `eval_every` steps; returns the last evaluation's metrics.

    `classifier` is the digit feature network (shared by the sweep; loaded from the cache if None).
    `checkpoint` resumes a run: training continues from its step with its exact state.
    `parallel` makes this one of several data-parallel workers (a set-up torch.distributed group).
    `dataset` is config.dataset's data where the caller loaded it already (a sweep's driver, once for all trials);
    `real` the real side of its metrics at config.eval's settings, likewise; `inception` the FID Inception
    network where those metrics are in its features (the driver's copy: no node fetches the weights).
    """
    device = torch.device(device)
    dataset = load_dataset(config.dataset) if dataset is None else dataset
    main = parallel is None or parallel.is_main  # only rank 0 evaluates
    evaluator = build_evaluator(config.eval, dataset, classifier, real, inception) if main else None
    real_points = dataset.points.to(device)
    state = build_state(config, dataset, device, parallel)
    if checkpoint is not None:
        load_checkpoint(state, checkpoint)
        apply_hyperparameters(state, config)
    eval_noise = torch.randn(
        config.eval.samples, config.model.latent_dim, generator=torch.Generator().manual_seed(EVAL_NOISE_SEED)
    ).to(device)
    totals = torch.zeros(4, device=device)  # loss_d, acc_real, acc_fake, loss_g since the last evaluation
    metrics: dict[str, float] = {}
    if state.step >= config.train.steps:  # a PBT exploit of a donor's last checkpoint: nothing left to train,
        # but the trial must still end on an evaluation of the model it now holds (no losses: no steps ran)
        evaluate_and_report(state, config, dataset, evaluator, eval_noise, metrics, reporter)
    while state.step < config.train.steps:
        # to the next multiple of eval_every, or the last step: where an evaluation is due
        interval = min(config.train.eval_every - state.step % config.train.eval_every, config.train.steps - state.step)
        train_steps(state, config, real_points, interval, totals)
        means = totals / interval
        metrics = losses_to_metrics(parallel.mean(means) if parallel else means)
        evaluate_and_report(state, config, dataset, evaluator, eval_noise, metrics, reporter)
        totals.zero_()
    return metrics


def train_steps(state: GanState, config: TrialConfig, real_points: torch.Tensor, steps: int,
                totals: torch.Tensor) -> None:
    """`steps` training steps, each `d_steps` D updates, one G update and the lr schedules' step, adding
    D's loss, its accuracies on real and fake, and G's loss into `totals`: the loop body of `train`
    between two evaluations (and what the benchmarks time)."""
    for _ in range(steps):
        for _ in range(config.train.d_steps):
            real = real_batch(state, real_points)
            totals[:3] += discriminator_step(state, real, config) / config.train.d_steps
        totals[3] += generator_step(state, config, real_points.device)
        advance_schedules(state, config)
        state.step += 1


def evaluate_and_report(
    state: GanState,
    config: TrialConfig,
    dataset: GanDataset,
    evaluator: Evaluator | None,
    eval_noise: torch.Tensor,
    metrics: dict[str, float],
    reporter: Reporter,
) -> None:
    """One evaluation: rank 0 (the evaluator's holder) samples, scores, draws and checkpoints; every
    rank stops together if its samples are not finite, and every rank reports (`metrics` gains the scores)."""
    parallel, device = state.parallel, eval_noise.device
    samples = generate(sampling_generator(state), eval_noise) if evaluator else None
    finite = bool(torch.isfinite(samples).all()) if evaluator else True
    if not (parallel.main_says(finite, device) if parallel else finite):
        raise Diverged(f"the generator's samples hold NaN or infinite values at step {state.step}")
    images, saved = {}, None
    if evaluator:
        metrics.update(evaluator.evaluate(samples))
        images = evaluation_pictures(samples, dataset, evaluator)
        saved = state_to_checkpoint(state, config, dataset.sample_shape)
    reporter.report(state.step, metrics, images, saved)


def evaluation_pictures(samples: torch.Tensor, dataset: GanDataset, evaluator: Evaluator) -> dict[str, np.ndarray]:
    """The sample picture, and for digit data the histogram of generated classes against the real one."""
    pictures = {names.SAMPLES_IMAGE: sample_picture(samples, dataset)}
    if dataset.is_image and evaluator.last_histogram is not None:
        pictures[names.MODES_IMAGE] = histogram_plot(evaluator.last_histogram, evaluator.real.histogram)
    return pictures


def scored_view(config: EvalConfig, dataset: GanDataset) -> GanDataset:
    """The data as its evaluator sees it: with eval.features: inception, image data of any kind in Inception
    features, without modes (Inception's 1008 classes are not the data's)."""
    if config.features == "inception" and dataset.feature_space != INCEPTION:
        return replace(dataset, feature_space=INCEPTION, num_modes=0, unseen=None)
    return dataset


def build_evaluator(config: EvalConfig, dataset: GanDataset, classifier: TrainedClassifier | None,
                    real: RealSide | None = None, inception: FIDInception | None = None) -> Evaluator:
    """The trial's evaluator with its feature network: the shared digit classifier (trained and cached
    if not given) or the FID Inception network (given, else loaded from eval.inception_weights, else from
    pytorch-fid's file, fetched once), as eval.features says."""
    dataset = scored_view(config, dataset)
    if needs_classifier(dataset) and classifier is None:
        classifier = cached_classifier(digit_source(dataset))
    if needs_inception(dataset) and inception is None:
        inception = load_fid_inception(fid_inception_weights(config.inception_weights))
    return Evaluator(dataset, config.samples, classifier, inception, real)


def losses_to_metrics(means: torch.Tensor) -> dict[str, float]:
    loss_d, acc_real, acc_fake, loss_g = means.tolist()
    if not (math.isfinite(loss_d) and math.isfinite(loss_g)):
        raise Diverged(f"non-finite loss: loss_d={loss_d}, loss_g={loss_g}")
    if max(abs(loss_d), abs(loss_g)) > DIVERGED_LOSS:
        raise Diverged(f"loss beyond {DIVERGED_LOSS:g}: loss_d={loss_d:.3g}, loss_g={loss_g:.3g}")
    return {names.LOSS_D: loss_d, names.LOSS_G: loss_g, names.D_ACC_REAL: acc_real, names.D_ACC_FAKE: acc_fake}


class PrintReporter:
    """Prints each evaluation: for `python -m pipeline.train` and debugging."""

    def report(
        self, step: int, metrics: dict[str, float], images: dict[str, np.ndarray], checkpoint: dict | None
    ) -> None:
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
        train(spec.trial, PrintReporter(), device="cuda" if torch.cuda.is_available() else "cpu")
    except (ConfigError, DatasetError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except Diverged as err:
        print(f"diverged: {err}", file=sys.stderr)
        return 1
    return 0

