"""A sweep's trial runs as every process finds and reads them: by Tune trial id, with the statuses they
end with, the artifacts they hold and the code that made them. The trial (tracking/trial_run.py), the
driver (tracking/sweep_runs.py, sweep/) and the offline tools share these names.

    run_id = find_trial_run(sweep, trial_id)      # None before the trial's first evaluation opened one
    checkpoint = download_checkpoint(sweep, trial_id)   # its ranked checkpoint, checkpoint/best.pt
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from mlflow.entities import Run, RunStatus, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from pipeline.tracking.keys import REASON_TAG, STATUS_TAG, TRIAL_ID_TAG
from pipeline.tracking.location import SweepRun, with_retries

SOURCE_NAME = "pipeline.sweep"  # the entry point every sweep's runs come from (python -m pipeline.sweep)
GIT_DIRTY_TAG = "sweep.git.dirty"  # "true" when the package's git tree had uncommitted changes
RUN_STATUS = {  # a trial's status tag -> the MLflow run status it ends with
    "finished": RunStatus.FINISHED,
    "diverged": RunStatus.FINISHED,  # a finished experiment with a negative result
    "stopped": RunStatus.KILLED,
    "errored": RunStatus.FAILED,
}
CHECKPOINT_ARTIFACT = "checkpoint/gan.pt"  # a trial's last checkpoint: what --resume and PBT go on from
RANKED_ARTIFACT = "checkpoint/best.pt"  # the checkpoint at its ranking value: its model, the registered version


def trial_run(sweep: SweepRun, trial_id: str) -> Run | None:
    """The run of Tune trial `trial_id` in this sweep, if one was made before (a restart, a PBT exploit)."""
    runs = with_retries(
        lambda: sweep.client().search_runs(
            [sweep.experiment_id],
            f"tags.`{TRIAL_ID_TAG}` = '{trial_id}' and tags.`{MLFLOW_PARENT_RUN_ID}` = '{sweep.run_id}'",
            max_results=1,
        ),
        "find trial run",
    )
    return runs[0] if runs else None


def find_trial_run(sweep: SweepRun, trial_id: str) -> str | None:
    run = trial_run(sweep, trial_id)
    return run.info.run_id if run else None


def finished_trial_result(sweep: SweepRun, trial_id: str, metric: str) -> tuple[int, dict[str, float]] | None:
    """(last step, last logged metrics) of a trial whose run already says finished; None for any other.

    Tune saves which trials ended only every 10 s or so: a driver killed in between restores an
    ended trial from an older checkpoint on --resume. With this it ends at once, as it had, instead
    of training its last steps again and logging them twice.
    """
    run = trial_run(sweep, trial_id)
    if run is None or run.data.tags.get(STATUS_TAG) != "finished":
        return None
    history = with_retries(lambda: sweep.client().get_metric_history(run.info.run_id, metric), "read metric")
    return max(m.step for m in history), dict(run.data.metrics)


def close_run(client: MlflowClient, run_id: str, status: str, reason: str) -> None:
    """A trial run's end: its status and reason tags in one batch (a reader sees both or neither), then the
    MLflow run status that goes with them; sending it again is harmless. Each status has one writer: the
    trial writes finished, diverged and errored; the driver writes stopped, which only it knows the cause of."""
    client.log_batch(run_id, tags=[RunTag(STATUS_TAG, status), RunTag(REASON_TAG, reason[:5000])])
    client.set_terminated(run_id, RunStatus.to_string(RUN_STATUS[status]))


def download_checkpoint(sweep: SweepRun, trial_id: str, artifact: str = RANKED_ARTIFACT) -> dict | None:
    """A trial's logged checkpoint (by default its ranked one, checkpoint/best.pt), or None if it logged none."""
    import torch

    run_id = find_trial_run(sweep, trial_id)
    if run_id is None:
        return None
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # a bar for one small file is noise
    with tempfile.TemporaryDirectory() as folder:
        try:
            path = sweep.client().download_artifacts(run_id, artifact, folder)
        except (MlflowException, OSError):
            return None
        return torch.load(path, map_location="cpu", weights_only=False)


def source_tags() -> dict[str, str]:
    """What code ran: the entry point, and where the package is a git checkout, its commit and whether
    its tree had uncommitted changes (a dirty tree's results may not be reproducible from the commit)."""
    tags = {"mlflow.source.name": SOURCE_NAME, "mlflow.source.type": "LOCAL"}
    package = Path(__file__).resolve().parent
    try:
        commit = git(package, "rev-parse", "HEAD")
        changes = git(package, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return tags  # not a git checkout (an installed package): the commit is simply unknown
    return tags | {"mlflow.source.git.commit": commit, GIT_DIRTY_TAG: str(bool(changes)).lower()}


def git(folder: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True, timeout=5,
                          check=True).stdout.strip()
