"""A trial's own MLflow child run, from the trial's process: metrics, images, the checkpoint, the
generator model and system metrics, sent so that logging never stops training.

    run = TrialRun(sweep, trial_id, "model.dropout=0.3", params, tags, dataset_input)
    run.log_evaluation(step, metrics, images)
    run.finish("finished")

The driver's side of tracking (the parent run, registration) is tracking/sweep_runs.py.
"""

from __future__ import annotations

import io
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from mlflow.entities import DatasetInput, Metric, Param, RunStatus, RunTag
from mlflow.exceptions import MlflowException
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME

from pipeline.tracking.keys import (
    DRIVER_CLOSE_TAG,
    HYPERPARAMETER_PREFIX,
    LINEAGE_FOLDER,
    REASON_TAG,
    ROLE_TAG,
    ROLE_TRIAL,
    STATUS_TAG,
    TRIAL_ID_TAG,
)
from pipeline.tracking.location import RETRIES, SweepRun, with_retries
from pipeline.tracking.outputs import log_generator_model, start_system_metrics
from pipeline.tracking.sweep_runs import RUN_STATUS, find_trial_run, source_tags

CREATE_RETRIES = 8  # a trial cannot start without its run: wait up to about two minutes
FINAL_RETRIES = 9  # a trial's buffered calls at its end: wait up to about four minutes
# MLflow's HTTP client retries a call 7 times over about four minutes by default: a trial would stop
# training for that long. Trials send with short client retries and keep what failed (TrialRun.send);
# the driver puts these in the trial processes' environment (pipeline.sweep.driver.trial_environment).
TRIAL_HTTP_SETTINGS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "20"}


class TrialRun:
    """One trial's child run, found again by its Tune trial id when the trial restarts.

    Logging never stops training: a call the tracking store does not take (after a few retries) is
    kept, in order, and sent before the next one; at the trial's end the store gets minutes to come
    back. What still cannot be sent is named, and `python -m pipeline.sync` recovers the metrics
    from Ray's results on disk.
    """

    def __init__(self, sweep: SweepRun, trial_id: str, name: str, params: dict[str, Any],
                 tags: dict[str, str] | None = None, dataset: DatasetInput | None = None,
                 system_metrics: bool = True):
        self.client, self.sweep = sweep.client(), sweep
        self.pending: list[tuple[str, Callable[[], object]]] = []
        run_id = with_retries(lambda: find_trial_run(sweep, trial_id), "find run", CREATE_RETRIES)
        restarted = run_id is not None
        if run_id is None:
            tags = {MLFLOW_PARENT_RUN_ID: sweep.run_id, ROLE_TAG: ROLE_TRIAL, MLFLOW_RUN_NAME: name,
                    TRIAL_ID_TAG: trial_id, **source_tags(), **(tags or {})}
            run = with_retries(lambda: self.client.create_run(sweep.experiment_id, run_name=name, tags=tags),
                               "create run", CREATE_RETRIES)
            run_id = run.info.run_id
            params_list = [Param(k, str(v)) for k, v in params.items()]
            for start in range(0, len(params_list), 100):  # MLflow takes at most 100 params a call
                chunk = params_list[start : start + 100]
                self.send("params", lambda chunk=chunk: self.client.log_batch(run_id, params=chunk))
            if dataset is not None:
                self.send("dataset input", lambda: self.client.log_inputs(run_id, datasets=[dataset]))
        self.run_id = run_id
        # the trial's own process only: `pipeline.tracking.sync` reopens runs from elsewhere
        self.monitor = start_system_metrics(run_id, sweep.tracking_uri, resume=restarted) if system_metrics else None

    def send(self, what: str, action: Callable[[], object]) -> None:
        self.pending.append((what, action))
        self.flush()

    def flush(self, attempts: int = RETRIES) -> bool:
        """Send the kept calls in order; False (and the rest kept) when the store still does not answer."""
        while self.pending:
            what, action = self.pending[0]
            try:
                with_retries(action, what, attempts)
            except (MlflowException, OSError) as err:
                print(f"MLflow did not take {what} ({type(err).__name__}); training goes on, "
                      f"{len(self.pending)} logging calls kept to send later", flush=True)
                return False
            self.pending.pop(0)
        return True

    def log_evaluation(self, step: int, metrics: dict[str, float], images: dict[str, np.ndarray]) -> None:
        timestamp = int(time.time() * 1000)
        batch = [Metric(key, float(value), timestamp, step) for key, value in metrics.items()]
        self.send(f"metrics of step {step}", lambda: self.client.log_batch(self.run_id, metrics=batch))
        for key, image in images.items():
            self.send(f"image {key} of step {step}", lambda k=key, i=image: self.client.log_image(
                self.run_id, i, key=k, step=step, timestamp=timestamp))

    def log_checkpoint(self, checkpoint: dict, artifact: str) -> None:
        """A checkpoint as `artifact` (sweep_runs' CHECKPOINT_ARTIFACT, the last; RANKED_ARTIFACT, the
        ranked one): `python -m pipeline.evaluate --checkpoint` loads either."""
        import torch

        folder, name = artifact.split("/")
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)

        def upload() -> None:
            with tempfile.TemporaryDirectory() as scratch:
                path = Path(scratch) / name
                path.write_bytes(buffer.getvalue())
                self.client.log_artifact(self.run_id, str(path), folder)

        self.send(f"checkpoint {artifact}", upload)

    def log_exploit(self, donor_run_id: str, step: int, new_values: dict[str, float]) -> None:
        """A PBT (or PB2) exploit: this trial went on from another trial's checkpoint at `step`, with
        `new_values` of the mutated keys. Logged as lineage/exploit-<step>.json beside the values this
        run had logged last (metrics hp.<key>), with the donor's run and trial."""

        def record() -> None:
            logged = self.client.get_run(self.run_id).data.metrics
            donor = self.client.get_run(donor_run_id)
            self.client.log_dict(self.run_id, {
                "step": step,
                "donor_run_id": donor_run_id,
                "donor_trial_id": donor.data.tags.get(TRIAL_ID_TAG),
                "donor_run_name": donor.info.run_name,
                "old": {key: logged.get(f"{HYPERPARAMETER_PREFIX}{key}") for key in new_values},
                "new": new_values,
            }, f"{LINEAGE_FOLDER}/exploit-{step:08d}.json")

        self.send(f"exploit at step {step}", record)

    def log_generator(self, generator: Any, latent_dim: int, step: int) -> None:
        """The generator as the run's MLflow model, with its signature (outputs.py)."""
        self.stop_system_metrics()  # the trial's work is done; MLflow's start_run would stop the sampler anyway
        self.send("generator model", lambda: log_generator_model(self.sweep.tracking_uri, self.run_id, generator,
                                                                 latent_dim, step))

    def recorded_status(self) -> str | None:
        """The status tag the run has now: the driver's `mark_stopped` may have written it first."""
        return self.recorded_tags().get(STATUS_TAG)

    def recorded_tags(self) -> dict[str, str]:
        return with_retries(lambda: self.client.get_run(self.run_id), "read run").data.tags

    def keep_drivers_close(self) -> None:
        """The driver's close of a stopped trial names what stopped it; the trial's own only knows that
        Tune did. Where the driver's landed between the trial's check and its own write, put it back."""
        close = self.recorded_tags().get(DRIVER_CLOSE_TAG)
        if close is None:
            return
        driver = json.loads(close)
        tags = [RunTag(STATUS_TAG, driver["status"]), RunTag(REASON_TAG, driver["reason"])]
        self.pending.append(("driver's status", lambda: self.client.log_batch(self.run_id, tags=tags)))
        end = RunStatus.to_string(RUN_STATUS[driver["status"]])
        self.pending.append(("driver's run end", lambda: self.client.set_terminated(self.run_id, end)))
        self.flush(FINAL_RETRIES)

    def stop_system_metrics(self) -> None:
        """The sampler's last samples sent; the run must still be running for them."""
        if self.monitor is not None:
            self.monitor.finish()
            self.monitor = None

    def finish(self, status: str, reason: str = "") -> None:
        self.stop_system_metrics()
        if status == "stopped" and self.flush() and self.recorded_status() is not None:
            return  # Tune ended the trial and the driver has closed its run already, naming what stopped it
        tags = [RunTag(STATUS_TAG, status), RunTag(REASON_TAG, reason[:5000])]
        self.pending.append(("status", lambda: self.client.log_batch(self.run_id, tags=tags)))
        end = RunStatus.to_string(RUN_STATUS[status])
        self.pending.append(("run end", lambda: self.client.set_terminated(self.run_id, end)))
        if not self.flush(FINAL_RETRIES):
            print(f"error: {len(self.pending)} logging calls of run {self.run_id} could not be sent to MLflow. "
                  "When the tracking server is back, `python -m pipeline.sync NAME` recovers the metrics "
                  "from Ray's results on disk.", file=sys.stderr, flush=True)
        elif status == "stopped":
            self.keep_drivers_close()
