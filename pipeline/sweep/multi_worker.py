"""A trial with `resources.workers_per_trial > 1`: a Ray Train TorchTrainer inside the Tune trial.

The Tune trial only drives: it starts a Train run of N data-parallel workers (Train's torch backend
sets up the process group: gloo on CPU, nccl on GPU) and waits. Every worker runs the same
`train_trial` as a single-worker trial, on its share of each global batch (`pipeline/core/parallel.py`);
rank 0 evaluates, logs to MLflow and reports checkpoints, and Ray Train's `TuneReportCallback`
passes rank 0's results on to Tune, so ASHA and the stopping rules see them as usual.

Checkpoints live in the Train run (`<results_dir>/train-<trial id>`): a killed worker makes Train
restart the worker group from the latest one (`max_failures`), and a restarted or resumed Tune
trial starts a Train run of the same name, which picks up where the last one stopped.
"""

from __future__ import annotations

import os

import ray.train
import ray.train.torch
import torch
from ray import tune
from ray.tune.integration.ray_train import TuneReportCallback

from pipeline.core.parallel import DataParallel
from pipeline.sweep.trial import TrialSetup, open_trial_run, read_checkpoint, replicate_config, train_trial
from pipeline.tracking.keys import PARAMS_KEY, REPLICATE_KEY

TRAIN_CHECKPOINTS_KEPT = 2  # the latest for restarts, one before it in case the latest is half-written
# Ray Train reads it in the trial's Train controller, to which it passes the trial's environment on
START_TIMEOUT_VARIABLE = "RAY_TRAIN_WORKER_GROUP_START_TIMEOUT_S"


def train_run_name(trial_id: str) -> str:
    return f"train-{trial_id}"


def run_multi_worker_trial(config: dict, setup: TrialSetup) -> None:
    """The Tune function trainable of a multi-worker trial."""
    trial_id = tune.get_context().get_trial_id()
    if setup.start_timeout_s is not None:
        os.environ[START_TIMEOUT_VARIABLE] = f"{setup.start_timeout_s:g}"
    per_worker = {"CPU": setup.cpus} | ({"GPU": setup.gpus} if setup.gpus else {})
    trainer = ray.train.torch.TorchTrainer(
        train_worker,
        train_loop_config={"values": config[PARAMS_KEY], "replicate": config[REPLICATE_KEY], "setup": setup,
                           "trial_id": trial_id},
        scaling_config=ray.train.ScalingConfig(
            num_workers=setup.workers, use_gpu=setup.gpus > 0, resources_per_worker=per_worker
        ),
        run_config=ray.train.RunConfig(
            name=train_run_name(trial_id),
            storage_path=setup.results_dir,
            callbacks=[TuneReportCallback()],
            failure_config=ray.train.FailureConfig(
                max_failures=setup.max_failures, controller_failure_limit=setup.start_retries
            ),
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=TRAIN_CHECKPOINTS_KEPT),
        ),
    )
    try:
        trainer.fit()  # a worker's error (after Train's restarts) raises here, and the Tune trial errors
    except ray.train.ControllerError as err:  # the worker group never started: say so on the trial's run
        record_start_failure(setup, trial_id, config[PARAMS_KEY], config[REPLICATE_KEY], err)
        raise


def record_start_failure(setup: TrialSetup, trial_id: str, values: dict, replicate: int, err: Exception) -> None:
    """A trial whose workers could not start has no run yet (rank 0 opens it): open it, errored, with why."""
    waited = f"{setup.start_timeout_s:g}" if setup.start_timeout_s is not None else "Ray's default of 60"
    tries = f", {setup.start_retries + 1} time(s)" if setup.start_retries >= 0 else ""
    reason = (f"its {setup.workers} workers ({setup.cpus:g} CPU, {setup.gpus:g} GPU each) could not start "
              f"within {waited} s{tries}: the cluster did not have their resources free. Ray Train said: {err}")
    trial_config = replicate_config(setup, values, replicate)
    open_trial_run(setup, trial_id, values, trial_config, replicate).finish("errored", reason)


def send_to_train(result: dict, folder: str | None) -> None:
    ray.train.report(result, checkpoint=ray.train.Checkpoint.from_directory(folder) if folder else None)


def train_worker(loop_config: dict) -> None:
    """One worker of the Train run; every worker calls `ray.train.report` at each evaluation."""
    setup: TrialSetup = loop_config["setup"]
    context = ray.train.get_context()
    torch.set_num_threads(max(1, int(setup.cpus)))
    train_trial(
        setup,
        loop_config["values"],
        loop_config["trial_id"],
        send=send_to_train,
        checkpoint=read_checkpoint(ray.train.get_checkpoint()),
        device=ray.train.torch.get_device(),
        parallel=DataParallel(context.get_world_rank(), context.get_world_size()),
        replicate=loop_config["replicate"],
    )
