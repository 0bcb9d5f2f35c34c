"""What one evaluation costs beside training: for each shipped spec's default trial, the wall time of
`eval_every` training steps against one evaluation (sampling, metrics, sample picture, checkpoint copy).

    python benchmarks/eval_cost.py                 # one thread, as a trial with cpus_per_worker: 1

Target (issue 4): evaluation at most 5% of the trial's wall time at the default eval_every.
"""

from __future__ import annotations

import platform
import statistics
import sys
import time

import torch

from pipeline.core.data import load_dataset
from pipeline.core.gan import build_state, discriminator_step, generate, generator_step, state_to_checkpoint
from pipeline.core.metrics import Evaluator
from pipeline.core.metrics.classifier import cached_classifier
from pipeline.core.metrics.evaluator import digit_source, needs_classifier
from pipeline.core.train import EVAL_NOISE_SEED, sample_picture
from pipeline.spec.loading import load_spec

SPECS = ("search_spaces/dropout.yaml", "search_spaces/ring8.yaml")
EVALUATIONS = 3


def time_training(spec_path: str) -> tuple[float, float, int]:
    trial = load_spec(spec_path).trial
    dataset = load_dataset(trial.dataset)
    classifier = cached_classifier(digit_source(dataset)) if needs_classifier(dataset) else None
    evaluator = Evaluator(dataset, trial.eval.samples, classifier)
    state = build_state(trial, dataset, torch.device("cpu"))
    latent = trial.model.latent_dim
    noise = torch.randn(trial.eval.samples, latent, generator=torch.Generator().manual_seed(EVAL_NOISE_SEED))
    start = time.perf_counter()
    for _ in range(trial.train.eval_every):
        for _ in range(trial.train.d_steps):
            discriminator_step(state, dataset.points[state.sampler.next_indices()], trial)
        generator_step(state, trial, torch.device("cpu"))
    training = time.perf_counter() - start
    evaluations = []
    for _ in range(1 + EVALUATIONS):  # the first pays one-off imports (matplotlib): not timed
        start = time.perf_counter()
        samples = generate(state.generator, noise)
        evaluator.evaluate(samples)
        sample_picture(samples, dataset)
        state_to_checkpoint(state, trial, dataset.sample_shape)
        evaluations.append(time.perf_counter() - start)
    return training, statistics.mean(evaluations[1:]), trial.train.eval_every


def main() -> None:
    torch.set_num_threads(1)
    versions = f"torch {torch.__version__}, python {sys.version.split()[0]}"
    print(f"# {platform.machine()}, {torch.get_num_threads()} thread, {versions}")
    print("| spec | eval_every | training (s) | one evaluation (s) | evaluation share |")
    print("|---|---:|---:|---:|---:|")
    for path in SPECS:
        training, evaluation, every = time_training(path)
        share = evaluation / (training + evaluation)
        print(f"| {path} | {every} | {training:.2f} | {evaluation:.2f} | {share:.1%} |", flush=True)


if __name__ == "__main__":
    main()
