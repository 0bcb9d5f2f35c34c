"""One Ray Tune trial: the sampled values -> a TrialConfig -> `train.train`, reporting to Ray and MLflow.

Single-worker trials (`run_trial`) train in the Tune trial itself: fractional GPUs share a card,
PBT can restore them. Multi-worker trials hand the same training to a Ray Train TorchTrainer
(`pipeline/sweep/multi_worker.py`), whose rank 0 logs exactly as a single-worker trial does. Each
trial's MLflow run carries its Tune trial id, so a restarted, restored or PBT-exploited trial
continues its own run.
"""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import ray
import torch
from mlflow.entities import DatasetInput, RunTag
from ray import tune

from pipeline.core.data import GanDataset
from pipeline.core.gan import checkpoint_to_generator
from pipeline.core.metrics.classifier import TrainedClassifier
from pipeline.core.metrics.inception import FIDInception, fid_inception_from_state
from pipeline.core.metrics.real_side import RealSide
from pipeline.core.parallel import DataParallel
from pipeline.core.train import Diverged, train
from pipeline.spec import metric_names as names
from pipeline.spec.config import TrialConfig, flatten, with_values
from pipeline.tracking.keys import (
    CONFIG_TAG,
    HYPERPARAMETER_PREFIX,
    NODE_IP_TAG,
    NODE_TAG,
    PARAMS_KEY,
    REPLICATE_KEY,
    REPLICATE_TAG,
    VALUES_TAG,
    trial_name,
)
from pipeline.tracking.location import SweepRun
from pipeline.tracking.trial_run import TrialRun
from pipeline.tracking.trial_runs import CHECKPOINT_ARTIFACT, RANKED_ARTIFACT, finished_trial_result

CHECKPOINT_FILE = "gan.pt"
RANKED_FILE = "best.pt"  # beside gan.pt in a Tune checkpoint, while the ranked step is an earlier one
RANKED_KEY = "ranked"  # in gan.pt: {"step", "value"} of the trial's ranked checkpoint so far
DIVERGED_KEY = "diverged"  # in a diverged trial's last Tune result
RUN_ID_KEY = "mlflow_run_id"  # which run logged this checkpoint: for the record; restarts find theirs by trial id

# Hands one evaluation's result to Ray, with the folder holding its checkpoint (None: no checkpoint).
SendResult = Callable[[dict, "str | None"], None]


@dataclass(frozen=True)
class TrialSetup:
    """What every trial of a sweep shares; Tune puts it in the object store once (with_parameters)."""

    trial: dict  # the spec's fixed trial config, before the sampled values go in
    sweep: SweepRun
    classifiers: dict[str, TrainedClassifier]  # digit feature networks by dataset name, trained once
    cpus: float  # per worker
    gpus: float  # per worker
    objectives: tuple[tuple[str, str], ...]  # the spec's (metric, mode)s: a diverged trial reports the worst of each
    mutable: tuple[str, ...] = ()  # keys PBT mutates: logged as metrics at each evaluation
    conditional: tuple[str, ...] = ()  # swept keys with a condition: not logged as params where they do not apply
    workers: int = 1  # > 1: a Ray Train run of that many data-parallel workers (sweep/multi_worker.py)
    results_dir: str = ""  # the sweep's Tune folder (local or URI): multi-worker trials keep their Train runs there
    seeds: int = 1  # search.seeds: replicates of each configuration
    max_failures: int = 0  # multi-worker trials: worker-group restarts inside the trial, from the latest checkpoint
    start_timeout_s: float | None = None  # multi-worker trials: for the worker group to start; None: Ray's (60 s)
    start_retries: int = -1  # multi-worker trials: starts tried again after a timeout; -1: until it starts
    dataset_input: DatasetInput | None = None  # the training data as an MLflow run input (tracking/outputs.py)
    # the data of the spec's trial.dataset, loaded (downloaded) once by the driver: trials on every node read it
    # from Ray's object store instead of fetching it again
    dataset: GanDataset | None = None
    real: RealSide | None = None  # the real side of every metric of that data at the spec's eval settings
    # the FID Inception weights (a state dict) where the metrics are in its features, read once by the driver:
    # trials on every node build the network from them instead of fetching pytorch-fid's file again
    inception: dict | None = None


def shipped_inception(setup: TrialSetup) -> FIDInception | None:
    return fid_inception_from_state(setup.inception) if setup.inception is not None else None


@dataclass
class RankedCheckpoint:
    """The checkpoint at which a trial reached its ranking value (its best value of the sweep's first
    metric so far): the trial's generator model, and what the sweep registers."""

    step: int
    value: float
    checkpoint: dict

    def improved_by(self, value: float, mode: str) -> bool:
        return value < self.value if mode == "min" else value > self.value


class RayReporter:
    """Each evaluation to MLflow (this trial's run; rank 0 only) and to Ray, with the checkpoint; keeps
    the last checkpoint (for restores) and the ranked one (`RankedCheckpoint`)."""

    def __init__(self, run: TrialRun | None, hyperparameters: dict[str, float], send: SendResult,
                 leading: tuple[str, ...] = (), ranking: tuple[str, str] = ("", "min"),
                 ranked: RankedCheckpoint | None = None, final_step: int | None = None):
        self.run = run
        self.final_step = final_step  # the run is closed finished before Tune hears of this step's result
        self.closed = False
        self.leading = leading  # result keys put first: Tune's progress table shows a result's first 4 metrics
        self.hyperparameters = {f"{HYPERPARAMETER_PREFIX}{k}": float(v) for k, v in hyperparameters.items()}
        self.send = send
        self.last_step = 0
        self.last_checkpoint: dict | None = None
        self.ranking, self.ranked = ranking, ranked  # (metric, mode); the ranked checkpoint so far

    def keep_ranked(self, step: int, metrics: dict[str, float], checkpoint: dict) -> None:
        metric, mode = self.ranking
        value = metrics.get(metric)
        if value is None or not math.isfinite(value):
            return
        if self.ranked is None or self.ranked.improved_by(value, mode):  # the first of equal values, as ranking.py
            self.ranked = RankedCheckpoint(step, float(value), checkpoint)

    def report(
        self, step: int, metrics: dict[str, float], images: dict[str, np.ndarray], checkpoint: dict | None
    ) -> None:
        # MLflow first: a trial killed between the two re-logs a step on restore rather than losing it.
        if self.run is not None:
            self.run.log_evaluation(step, metrics | self.hyperparameters, images)
        self.last_step = step
        result = {key: metrics[key] for key in self.leading if key in metrics} | metrics | {names.STEP: step}
        if checkpoint is not None:
            self.last_checkpoint = checkpoint
            self.keep_ranked(step, metrics, checkpoint)
        if step == self.final_step:  # Tune may end this process as soon as it has the last result
            end_run(self, "finished")
        if checkpoint is None:
            self.send(result, None)
            return
        owner = {RUN_ID_KEY: self.run.run_id if self.run else None}
        ranked = {RANKED_KEY: {"step": self.ranked.step, "value": self.ranked.value}} if self.ranked else {}
        with tempfile.TemporaryDirectory() as folder:
            torch.save(checkpoint | owner | ranked, Path(folder) / CHECKPOINT_FILE)
            if self.ranked is not None and self.ranked.step != step:
                torch.save(self.ranked.checkpoint | owner, Path(folder) / RANKED_FILE)
            self.send(result, folder)


def read_checkpoint(checkpoint: tune.Checkpoint | ray.train.Checkpoint | None) -> dict | None:
    """A Tune checkpoint's gan.pt; its RANKED_KEY, where present, as the RankedCheckpoint it names."""
    if checkpoint is None:
        return None
    with checkpoint.as_directory() as folder:
        loaded = torch.load(Path(folder) / CHECKPOINT_FILE, weights_only=False)
        if RANKED_KEY in loaded:
            ranked, path = loaded.pop(RANKED_KEY), Path(folder) / RANKED_FILE
            state = torch.load(path, weights_only=False) if path.exists() else dict(loaded)
            loaded[RANKED_KEY] = RankedCheckpoint(ranked["step"], ranked["value"], state)
        return loaded


def send_to_tune(result: dict, folder: str | None) -> None:
    tune.report(result, checkpoint=tune.Checkpoint.from_directory(folder) if folder else None)


def run_trial(config: dict, setup: TrialSetup) -> None:
    """The Tune function trainable of a single-worker trial."""
    torch.set_num_threads(max(1, int(setup.cpus)))  # one trial per core: no oversubscription
    trial_id, checkpoint = tune.get_context().get_trial_id(), tune.get_checkpoint()
    # restored (a restart, a resume, a PBT exploit): it may be a trial that had ended before a resume
    if checkpoint is not None and (ended := finished_trial_result(setup.sweep, trial_id, setup.objectives[0][0])):
        step, metrics = ended
        tune.report(metrics | {names.STEP: step})  # Tune gets the trial's end again; nothing trains twice
        return
    train_trial(
        setup,
        config[PARAMS_KEY],
        trial_id,
        send=send_to_tune,
        checkpoint=read_checkpoint(checkpoint),
        device="cuda" if setup.gpus > 0 else "cpu",
        replicate=config[REPLICATE_KEY],
    )


def config_id(values: dict) -> str:
    """The sampled configuration's id, the same for each of its seed replicates and in every process."""
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:12]


def replicate_config(setup: TrialSetup, values: dict, replicate: int) -> TrialConfig:
    """The trial's config: the sampled values put in, train.seed moved on by the replicate's number."""
    return with_values(setup.trial, values | {"train.seed": setup.trial["train"]["seed"] + replicate})


def open_trial_run(setup: TrialSetup, trial_id: str, values: dict, trial_config: TrialConfig,
                   replicate: int = 0) -> TrialRun:
    """This trial's MLflow child run: found by its trial id, or created with every hyperparameter as a
    param and tagged with its configuration and replicate."""
    name = trial_name(values) or "trial"
    if setup.seeds > 1:
        name += f" seed {trial_config.train.seed}"
    tags = {CONFIG_TAG: config_id(values), REPLICATE_TAG: str(replicate), VALUES_TAG: json.dumps(values)}
    inactive = {key for key in setup.conditional if key not in values}  # the fixed value holds, unswept
    params = {key: value for key, value in flatten(trial_config.model_dump()).items() if key not in inactive}
    run = TrialRun(setup.sweep, trial_id, name, params, tags, setup.dataset_input)
    node = [RunTag(NODE_TAG, ray.get_runtime_context().get_node_id()),
            RunTag(NODE_IP_TAG, ray.util.get_node_ip_address())]
    run.send("node", lambda: run.client.log_batch(run.run_id, tags=node))
    return run


def train_trial(
    setup: TrialSetup,
    values: dict,
    trial_id: str,
    *,
    send: SendResult,
    checkpoint: dict | None,
    device: str | torch.device,
    parallel: DataParallel | None = None,
    replicate: int = 0,
) -> None:
    """Train one trial's GAN (or one worker's part of it), logging from rank 0 and closing its run."""
    trial_config = replicate_config(setup, values, replicate)
    main = parallel is None or parallel.is_main
    run = open_trial_run(setup, trial_id, values, trial_config, replicate) if main else None
    flat = flatten(trial_config.model_dump())
    leading = (*(metric for metric, _ in setup.objectives), names.MODES)
    mutated = {key: flat[key] for key in setup.mutable}
    donor = checkpoint.get(RUN_ID_KEY) if checkpoint is not None else None
    ranked = checkpoint.pop(RANKED_KEY, None) if checkpoint is not None else None
    # a restart keeps its ranked checkpoint; a PBT exploit's donor ranked its own run, not this one
    ranked = ranked if run is not None and donor == run.run_id else None
    reporter = RayReporter(run, mutated, send, leading=leading, ranking=setup.objectives[0], ranked=ranked,
                           final_step=trial_config.train.steps)
    if run is not None and donor not in (None, run.run_id):  # another trial's checkpoint: a PBT exploit
        run.log_exploit(donor, checkpoint["step"], {key: float(value) for key, value in mutated.items()})
    # a sweep over a dataset or eval key loads its own data or computes its own real side; the rest share the driver's
    same_data = trial_config.dataset.model_dump() == setup.trial["dataset"]
    same_real = same_data and trial_config.eval.model_dump() == setup.trial["eval"]
    try:
        train(trial_config, reporter, classifier=setup.classifiers.get(trial_config.dataset.name),
              checkpoint=checkpoint, device=device, parallel=parallel, dataset=setup.dataset if same_data else None,
              real=setup.real if same_real else None, inception=shipped_inception(setup))
    except Diverged as err:
        end_run(reporter, "diverged", str(err))  # a result, not a failure: the sweep goes on
        report_divergence(reporter, setup)
        return
    except SystemExit:  # how Tune ends a trial it stops (ASHA, a stopping rule) or pauses (PBT)
        end_run(reporter, None)  # its checkpoints; the driver writes why it stopped (sweep/endings.py)
        raise
    except BaseException:
        end_run(reporter, "errored", traceback.format_exc())
        raise
    end_run(reporter, "finished")  # already done at the last evaluation (RayReporter.report), where it ends


def report_divergence(reporter: RayReporter, setup: TrialSetup) -> None:
    """Tune's last result for a diverged trial: the worst value of the ranking metric, so that schedulers
    and searchers (Optuna's TPE) learn that region is bad, and Tune has the metric it checks for even
    when the trial diverged before its first evaluation. MLflow keeps the true story: status diverged."""
    worst = {metric: math.inf if mode == "min" else -math.inf for metric, mode in setup.objectives}
    reporter.send(worst | {names.STEP: reporter.last_step, DIVERGED_KEY: 1}, None)


def end_run(reporter: RayReporter, status: str | None, reason: str = "") -> None:
    """The last and the ranked checkpoints as the run's artifacts, a finished trial's generator model, then
    the trial's own status: finished, diverged, errored; None (a stop or a pause) leaves it to the driver.
    Rank 0 only: other workers have no run."""
    if reporter.run is None or reporter.closed:
        return
    reporter.closed = status is not None
    owner = {RUN_ID_KEY: reporter.run.run_id}
    if reporter.last_checkpoint is not None:
        reporter.run.log_checkpoint(reporter.last_checkpoint | owner, CHECKPOINT_ARTIFACT)
    if reporter.ranked is not None:
        ranked = reporter.ranked
        reporter.run.log_checkpoint(ranked.checkpoint | owner | {RANKED_KEY: {"step": ranked.step,
                                                                            "value": ranked.value}}, RANKED_ARTIFACT)
        # a finished trial's ranked generator as an MLflow model; a stopped one's process may end within
        # seconds: the driver logs the model of a stopped trial that ranks first (sweep/champion.py)
        if status == "finished":
            generator, config = checkpoint_to_generator(ranked.checkpoint)
            reporter.run.log_generator(generator, config.model.latent_dim, ranked.step)
    if status is None:
        reporter.run.end()
    else:
        reporter.run.finish(status, reason)
