"""A trial's own MLflow child run, from the trial's process: metrics, images, the checkpoint, the
generator model and system metrics, sent so that logging never stops training.

    run = TrialRun(sweep, trial_id, "model.dropout=0.3", params, tags, dataset_input)
    run.log_evaluation(step, metrics, images)
    run.finish("finished")

Each attempt of a trial (its first process, and each restart after a failure) owns the run from the
moment it opens it; an earlier attempt that outlived its node's loss (a partitioned node, a "zombie")
finds out before it sends again and holds its calls back, so it never writes over its successor's.
The driver's side of tracking (the parent run, registration) is tracking/sweep_runs.py.
"""

from __future__ import annotations

import io
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from mlflow.entities import DatasetInput, Metric, Param
from mlflow.exceptions import MlflowException
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME

from pipeline.tracking.keys import (
    ATTEMPT_TAG,
    HYPERPARAMETER_PREFIX,
    LINEAGE_FOLDER,
    ROLE_TAG,
    ROLE_TRIAL,
    STALE_FOLDER,
    TRIAL_ID_TAG,
)
from pipeline.tracking.location import RETRIES, SweepRun, with_retries
from pipeline.tracking.outputs import log_generator_model, start_system_metrics
from pipeline.tracking.trial_runs import close_run, find_trial_run, source_tags

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

    Fencing: the run's ATTEMPT_TAG names the attempt that opened it last. Once per evaluation, and
    before kept calls go out after a failure, an attempt checks that it is still the one named; if not,
    it sends nothing more to the run but a count of what it held back (STALE_FOLDER/<attempt>.json).
    """

    def __init__(self, sweep: SweepRun, trial_id: str, name: str, params: dict[str, Any],
                 tags: dict[str, str] | None = None, dataset: DatasetInput | None = None,
                 system_metrics: bool = True):
        self.client, self.sweep = sweep.client(), sweep
        self.pending: list[tuple[str, Callable[[], object]]] = []
        self.attempt = uuid.uuid4().hex[:12]
        self.check_due = False  # True: check that this attempt still owns the run before sending more
        self.successor: str | None = None  # the attempt that owns the run now, once this one has lost it
        self.held_back: list[str] = []  # what this attempt did not send because a later attempt owns the run
        run_id = with_retries(lambda: find_trial_run(sweep, trial_id), "find run", CREATE_RETRIES)
        restarted = run_id is not None
        if run_id is None:
            tags = {MLFLOW_PARENT_RUN_ID: sweep.run_id, ROLE_TAG: ROLE_TRIAL, MLFLOW_RUN_NAME: name,
                    TRIAL_ID_TAG: trial_id, ATTEMPT_TAG: self.attempt, **source_tags(), **(tags or {})}
            run = with_retries(lambda: self.client.create_run(sweep.experiment_id, run_name=name, tags=tags),
                               "create run", CREATE_RETRIES)
            run_id = self.run_id = run.info.run_id  # before any send: a failed one checks the run's owner
            params_list = [Param(k, str(v)) for k, v in params.items()]
            for start in range(0, len(params_list), 100):  # MLflow takes at most 100 params a call
                chunk = params_list[start : start + 100]
                self.send("params", lambda chunk=chunk: self.client.log_batch(run_id, params=chunk))
            if dataset is not None:
                self.send("dataset input", lambda: self.client.log_inputs(run_id, datasets=[dataset]))
        else:  # a restart: from now on the run is this attempt's, and an earlier one still alive stops writing
            with_retries(lambda: self.client.set_tag(run_id, ATTEMPT_TAG, self.attempt), "take over run",
                         CREATE_RETRIES)
        self.run_id = run_id
        # the trial's own process only: `pipeline.tracking.sync` reopens runs from elsewhere
        self.monitor = (start_system_metrics(run_id, sweep.tracking_uri, restarted, self.owns_run) if system_metrics
                        else None)

    def send(self, what: str, action: Callable[[], object]) -> None:
        if self.successor is not None:
            self.held_back.append(what)
            return
        self.pending.append((what, action))
        self.flush()

    def flush(self, attempts: int = RETRIES) -> bool:
        """Send the kept calls in order; False (and the rest kept) when the store still does not answer."""
        while self.pending:
            what, action = self.pending[0]
            try:
                with_retries(lambda action=action: self.checked(action), what, attempts)
            except (MlflowException, OSError) as err:
                print(f"MLflow did not take {what} ({type(err).__name__}); training goes on, "
                      f"{len(self.pending)} logging calls kept to send later", flush=True)
                return False
            if self.successor is not None:
                self.hold_back()
                return True
            self.pending.pop(0)
        return True

    def checked(self, action: Callable[[], object]) -> None:
        """One try of `action`, after a check of the run's owner where one is due (nothing where the run
        is lost). MLflow has no conditional write: a check before every try after a failure leaves only a
        request already in flight as the link fell (its HTTP timeout, TRIAL_HTTP_SETTINGS) unfenced."""
        if self.check_due:
            owner = self.owner()
            self.check_due = False
            if owner != self.attempt:
                self.successor = owner
                return
        try:
            action()
        except (MlflowException, OSError):
            self.check_due = True  # while this attempt could not write, a successor may have taken the run
            raise

    def owner(self) -> str | None:
        """The attempt the run names as its owner now (one request)."""
        return self.client.get_run(self.run_id).data.tags.get(ATTEMPT_TAG)

    def owns_run(self) -> bool:
        """Whether this attempt still owns the run, for the system-metrics sampler's thread; where the store
        does not answer, the sampler's own write fails as any would, so it is let try."""
        try:
            owner = self.owner()
        except (MlflowException, OSError):
            return True
        if owner != self.attempt:
            self.successor = owner
            self.held_back.append("system metrics")
            self.record_held_back()
        return owner == self.attempt

    def hold_back(self) -> None:
        """This attempt lost the run to a later one (its node was cut off and the trial restarted elsewhere):
        its kept calls are dropped, and so is all it logs from now on; `record_held_back` counts them."""
        self.held_back += [what for what, _ in self.pending]
        self.pending.clear()
        print(f"run {self.run_id} belongs to a later attempt of this trial ({self.successor}) now: attempt "
              f"{self.attempt} sends it nothing more ({len(self.held_back)} calls held back)", flush=True)
        self.stop_system_metrics()
        self.record_held_back()

    def record_held_back(self) -> None:
        """What this attempt held back, as STALE_FOLDER/<attempt>.json on the run: its own file, which no
        other attempt writes."""
        record = {"attempt": self.attempt, "owner": self.successor, "held_back": len(self.held_back),
                  "calls": self.held_back}
        try:
            with_retries(lambda: self.client.log_dict(self.run_id, record, f"{STALE_FOLDER}/{self.attempt}.json"),
                         "held-back record")
        except (MlflowException, OSError) as err:
            print(f"MLflow did not take the record of {len(self.held_back)} held-back calls ({err})", flush=True)

    def log_evaluation(self, step: int, metrics: dict[str, float], images: dict[str, np.ndarray]) -> None:
        self.check_due = True  # once per evaluation: a zombie attempt still in touch with MLflow stops here
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

    def stop_system_metrics(self) -> None:
        """The sampler's last samples sent; the run must still be running for them."""
        if self.monitor is not None:
            self.monitor.finish()
            self.monitor = None

    def finish(self, status: str, reason: str = "") -> None:
        """The trial's own end: finished, diverged or errored (a stop's cause only the driver knows: it
        writes `stopped`), sent with minutes of patience; nothing where a later attempt owns the run."""
        self.stop_system_metrics()
        self.check_due = True
        close = ("status and run end", lambda: close_run(self.client, self.run_id, status, reason))
        if self.successor is None:
            self.pending.append(close)
        else:
            self.held_back.append(close[0])
        self.end(FINAL_RETRIES)

    def end(self, attempts: int = RETRIES) -> None:
        """The kept calls sent, with `attempts` tries each (a stopped trial has seconds before Tune reuses or
        ends its process: the usual few, not the minutes of `finish`)."""
        self.stop_system_metrics()
        if self.successor is not None:  # found by the sampler's thread, perhaps: what is still kept goes too
            self.hold_back()
        elif not self.flush(attempts):
            print(f"error: {len(self.pending)} logging calls of run {self.run_id} could not be sent to MLflow. "
                  "When the tracking server is back, `python -m pipeline.sync NAME` recovers the metrics "
                  "from Ray's results on disk.", file=sys.stderr, flush=True)
