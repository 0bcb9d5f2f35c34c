"""One Ray Tune trial: the sampled values -> a TrialConfig -> `train.train`, reporting to Tune and MLflow.

Single-worker trials run in the Tune trial itself (fractional GPUs share a card, PBT can restore
them). Each trial's MLflow run carries its Tune trial id, so a restarted, restored or PBT-exploited
trial continues its own run.
"""

from __future__ import annotations

import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import ray
import torch
from ray import tune

from pipeline import metric_names as names
from pipeline.config import flatten, with_values
from pipeline.metrics.classifier import TrainedClassifier
from pipeline.run_keys import HYPERPARAMETER_PREFIX, NODE_TAG
from pipeline.search_space import PARAMS_KEY, trial_name
from pipeline.tracking import SweepRun, TrialRun
from pipeline.train import Diverged, train

CHECKPOINT_FILE = "gan.pt"
RUN_ID_KEY = "mlflow_run_id"  # which run logged this checkpoint: for the record; restarts find theirs by trial id


@dataclass(frozen=True)
class TrialSetup:
    """What every trial of a sweep shares; Tune puts it in the object store once (with_parameters)."""

    trial: dict  # the spec's fixed trial config, before the sampled values go in
    sweep: SweepRun
    classifiers: dict[str, TrainedClassifier]  # digit feature networks by dataset name, trained once
    cpus: float
    gpus: float
    mutable: tuple[str, ...] = ()  # keys PBT mutates: logged as metrics at each evaluation


class TuneReporter:
    """Each evaluation to MLflow (this trial's run) and to Tune, with the checkpoint."""

    def __init__(self, run: TrialRun, hyperparameters: dict[str, float]):
        self.run = run
        self.hyperparameters = {f"{HYPERPARAMETER_PREFIX}{k}": float(v) for k, v in hyperparameters.items()}
        self.last_step = 0
        self.last_checkpoint: dict | None = None

    def report(self, step: int, metrics: dict[str, float], images: dict[str, np.ndarray], checkpoint: dict) -> None:
        # MLflow first: a trial killed between the two re-logs a step on restore rather than losing it.
        self.run.log_evaluation(step, metrics | self.hyperparameters, images)
        self.last_step, self.last_checkpoint = step, checkpoint
        with tempfile.TemporaryDirectory() as folder:
            torch.save(checkpoint | {RUN_ID_KEY: self.run.run_id}, Path(folder) / CHECKPOINT_FILE)
            tune.report(metrics | {names.STEP: step}, checkpoint=tune.Checkpoint.from_directory(folder))


def restored_checkpoint() -> dict | None:
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        return None
    with checkpoint.as_directory() as folder:
        return torch.load(Path(folder) / CHECKPOINT_FILE, weights_only=False)


def run_trial(config: dict, setup: TrialSetup) -> None:
    """The Tune function trainable."""
    values = config[PARAMS_KEY]
    trial_config = with_values(setup.trial, values)
    torch.set_num_threads(max(1, int(setup.cpus)))  # one trial per core: no oversubscription
    checkpoint = restored_checkpoint()
    trial_id = tune.get_context().get_trial_id()
    flat = flatten(trial_config.model_dump())
    run = TrialRun(setup.sweep, trial_id, trial_name(values) or "trial", flat)
    run.send("node", lambda: run.client.set_tag(run.run_id, NODE_TAG, ray.get_runtime_context().get_node_id()))
    reporter = TuneReporter(run, {key: flat[key] for key in setup.mutable})
    try:
        train(
            trial_config,
            reporter,
            classifier=setup.classifiers.get(trial_config.dataset.name),
            checkpoint=checkpoint,
            device="cuda" if setup.gpus > 0 else "cpu",
        )
    except Diverged as err:
        end_run(reporter, "diverged", str(err))  # a result, not a failure: the sweep goes on
        return
    except SystemExit:  # how Tune ends a trial it stops (ASHA, a stopping rule) or pauses (PBT)
        if reporter.last_step == trial_config.train.steps:  # ASHA stops trials at max_t too: that is the end
            end_run(reporter, "finished")
        else:
            end_run(reporter, "stopped", "stopped by Tune: its scheduler or a stopping rule")
        raise
    except BaseException:
        end_run(reporter, "errored", traceback.format_exc())
        raise
    end_run(reporter, "finished")


def end_run(reporter: TuneReporter, status: str, reason: str = "") -> None:
    """The last checkpoint as the run's model artifact, then its status."""
    if reporter.last_checkpoint is not None:
        reporter.run.log_checkpoint(reporter.last_checkpoint | {RUN_ID_KEY: reporter.run.run_id})
    reporter.run.finish(status, reason)
