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
from pipeline.core.gan import build_state
from pipeline.core.train import EVAL_NOISE_SEED, build_evaluator, evaluate_and_report, train_steps
from pipeline.spec.loading import load_spec

SPECS = ("search_spaces/dropout.yaml", "search_spaces/ring8.yaml")
EVALUATIONS = 3


class Discard:
    """A reporter that keeps nothing: the evaluation's cost alone, without MLflow's (logging_cost.py)."""

    def report(self, step: int, metrics: dict, images: dict, checkpoint: dict | None) -> None:
        pass


def time_training(spec_path: str) -> tuple[float, float, int]:
    """`train`'s own loop for one `eval_every` interval, then its own evaluation (sampling, every metric,
    the pictures, the checkpoint) timed over EVALUATIONS after a warm-up."""
    trial = load_spec(spec_path).trial
    dataset = load_dataset(trial.dataset)
    evaluator = build_evaluator(trial.eval, dataset, classifier=None)  # the digit classifier from its cache
    state = build_state(trial, dataset, torch.device("cpu"))
    noise = torch.randn(trial.eval.samples, trial.model.latent_dim,
                        generator=torch.Generator().manual_seed(EVAL_NOISE_SEED))
    start = time.perf_counter()
    train_steps(state, trial, dataset.points, trial.train.eval_every, torch.zeros(4))
    training = time.perf_counter() - start
    evaluations = []
    for _ in range(1 + EVALUATIONS):  # the first pays one-off imports (matplotlib): not timed
        start = time.perf_counter()
        evaluate_and_report(state, trial, dataset, evaluator, noise, {}, Discard())
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
