"""Who writes a trial run's end: the trial its own (finished, diverged, errored), the driver a stop's
cause (a Tune callback, as Tune stops the trial), and of two attempts of one trial only the latest
(a zombie attempt, cut off while a successor took over, holds its calls back and counts them).
No Ray cluster: Tune's Trial objects and a SQLite store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from ray.tune.experiment import Trial

from pipeline.spec import metric_names as names
from pipeline.sweep.endings import RunCloser
from pipeline.sweep.trial import DIVERGED_KEY
from pipeline.tracking import location
from pipeline.tracking.keys import ATTEMPT_TAG, REASON_TAG, STALE_FOLDER, STATUS_TAG
from pipeline.tracking.sweep_runs import open_sweep
from pipeline.tracking.trial_run import TrialRun

from .conftest import SEARCH_SPACES, tiny_spec


@pytest.fixture
def sweep(store_uri):
    spec = tiny_spec("ring8", "search.stop_collapsed_after=2")  # 2 evaluations of 20 steps: 40 steps
    return spec, open_sweep(spec, str(SEARCH_SPACES / "ring8.yaml"), store_uri)


def result(iteration: int, modes: float, done: bool = False, **extra) -> dict:
    return {"training_iteration": iteration, names.MODES: modes, names.HQ_FRACTION: 0.5, "timestamp": iteration,
            "done": done, **extra}


def test_the_driver_closes_a_stopped_trial_as_tune_stops_it_naming_the_cause(sweep):
    spec, run_of = sweep
    trial = Trial("gan", trial_id="t1", stub=True)
    run = TrialRun(run_of, "t1", "a", {}, system_metrics=False)
    run.log_evaluation(20, {names.MODES: 1.0}, {})
    run.end()  # the stopped trial's own end: its kept calls, no status
    closer = RunCloser(spec, run_of)
    closer.on_trial_result(1, [trial], trial, result(1, 1.0))
    client = MlflowClient(run_of.tracking_uri)
    assert STATUS_TAG not in client.get_run(run.run_id).data.tags  # not stopped yet: Tune said go on
    closer.on_trial_result(2, [trial], trial, result(1, 0.0, done=True))  # Tune marks the stop decision `done`
    ended = client.get_run(run.run_id)
    assert ended.data.tags[STATUS_TAG] == "stopped" and ended.info.status == "KILLED"
    assert ended.data.tags[REASON_TAG].startswith("stopped by the collapse rule (modes <= 1 for 2 evaluations)")
    assert ended.data.tags[REASON_TAG].endswith("after 1 of 2 evaluations")


@pytest.mark.parametrize("last", [result(2, 8.0, done=True), result(1, 8.0, done=True, **{DIVERGED_KEY: 1})],
                         ids=["last evaluation", "diverged"])
def test_the_driver_leaves_the_ends_the_trial_writes_alone(sweep, last):
    spec, run_of = sweep
    trial = Trial("gan", trial_id="t1", stub=True)
    run = TrialRun(run_of, "t1", "a", {}, system_metrics=False)
    status = "diverged" if DIVERGED_KEY in last else "finished"
    run.finish(status, "the generator's samples hold NaN" if status == "diverged" else "")
    RunCloser(spec, run_of).on_trial_result(2, [trial], trial, last)
    assert MlflowClient(run_of.tracking_uri).get_run(run.run_id).data.tags[STATUS_TAG] == status


def test_a_restarted_attempt_owns_the_run_and_the_earlier_one_holds_back(sweep, tmp_path):
    _, run_of = sweep
    first = TrialRun(run_of, "t1", "a", {"model.dropout": 0.3}, system_metrics=False)
    first.log_evaluation(20, {names.FID: 5.0}, {})
    second = TrialRun(run_of, "t1", "a", {}, system_metrics=False)  # Tune restarted the trial elsewhere
    assert second.run_id == first.run_id and second.attempt != first.attempt
    second.log_evaluation(20, {names.FID: 4.0}, {})
    first.log_evaluation(40, {names.FID: 3.0}, {})  # the zombie's next evaluation finds it lost the run
    first.finish("finished")
    second.log_evaluation(40, {names.FID: 2.0}, {})
    client = MlflowClient(run_of.tracking_uri)
    history = {(m.step, m.value) for m in client.get_metric_history(first.run_id, names.FID)}
    assert history == {(20, 5.0), (20, 4.0), (40, 2.0)}  # the zombie's 40 never landed
    run = client.get_run(first.run_id)
    assert run.data.tags[ATTEMPT_TAG] == second.attempt and STATUS_TAG not in run.data.tags
    held = json.loads(Path(client.download_artifacts(first.run_id, f"{STALE_FOLDER}/{first.attempt}.json",
                                                     str(tmp_path))).read_text())
    assert held["owner"] == second.attempt and held["held_back"] == 2  # the metrics of step 40 and the close
    assert held["calls"] == ["metrics of step 40", "status and run end"]


def test_kept_calls_go_out_only_after_the_owner_is_checked(sweep, monkeypatch):
    """A zombie's calls kept through an outage (its node cut off) are checked before they are sent."""
    _, run_of = sweep
    first = TrialRun(run_of, "t1", "a", {}, system_metrics=False)
    real_log_batch = first.client.log_batch
    monkeypatch.setattr(location, "BACKOFF_S", 0.01)  # the outage's retries, without 7.5 s of waiting

    def unreachable(*args, **kwargs):
        raise MlflowException("connection refused")

    monkeypatch.setattr(first.client, "log_batch", unreachable)
    first.log_evaluation(20, {names.FID: 5.0}, {})
    assert len(first.pending) == 1  # kept to send later
    TrialRun(run_of, "t1", "a", {}, system_metrics=False)  # meanwhile Tune restarted it elsewhere
    monkeypatch.setattr(first.client, "log_batch", real_log_batch)  # the link is back
    first.flush()
    assert first.pending == [] and first.held_back == ["metrics of step 20"]
    assert MlflowClient(run_of.tracking_uri).get_metric_history(first.run_id, names.FID) == []



def test_the_driver_ends_a_run_whose_process_died_without_a_word(sweep):
    spec, run_of = sweep
    lost, failed = Trial("gan", trial_id="t1", stub=True), Trial("gan", trial_id="t2", stub=True)
    lost_run = TrialRun(run_of, "t1", "a", {}, system_metrics=False)  # its node went away: no close
    failed_run = TrialRun(run_of, "t2", "b", {}, system_metrics=False)
    failed_run.finish("errored", "Traceback: ValueError")  # its own code raised: it wrote its end
    closer = RunCloser(spec, run_of)
    for trial in (lost, failed):
        closer.on_trial_error(3, [lost, failed], trial)
    client = MlflowClient(run_of.tracking_uri)
    ended = client.get_run(lost_run.run_id)
    assert ended.info.status == "FAILED" and ended.data.tags[STATUS_TAG] == "errored"
    assert ended.data.tags[REASON_TAG].startswith("its process ended without closing its run")
    assert client.get_run(failed_run.run_id).data.tags[REASON_TAG] == "Traceback: ValueError"


def test_a_new_runs_first_call_failing_is_checked_and_sent_again(sweep, monkeypatch):
    """A busy server refusing the params of a run just made: the retry checks the owner of that run."""
    _, run_of = sweep
    real_log_batch, failures = MlflowClient.log_batch, []

    def busy_once(self, run_id, *args, **kwargs):
        if not failures:
            failures.append(run_id)
            raise MlflowException("503 the server is busy")
        return real_log_batch(self, run_id, *args, **kwargs)

    monkeypatch.setattr(MlflowClient, "log_batch", busy_once)
    run = TrialRun(run_of, "t1", "a", {"model.dropout": 0.3}, system_metrics=False)
    assert failures == [run.run_id] and run.pending == []
    assert MlflowClient(run_of.tracking_uri).get_run(run.run_id).data.params == {"model.dropout": "0.3"}


def test_a_trial_the_sweeps_end_stopped_before_its_first_evaluation_is_closed_too(sweep):
    spec, run_of = sweep
    early, done = Trial("gan", trial_id="t1", stub=True), Trial("gan", trial_id="t2", stub=True)
    early.status = done.status = Trial.TERMINATED
    done.update_last_result({"training_iteration": 2})
    early_run = TrialRun(run_of, "t1", "a", {}, system_metrics=False)  # opened, never evaluated
    done_run = TrialRun(run_of, "t2", "b", {}, system_metrics=False)
    done_run.finish("finished")
    RunCloser(spec, run_of).on_experiment_end([early, done])
    client = MlflowClient(run_of.tracking_uri)
    closed = client.get_run(early_run.run_id)
    assert closed.data.tags[STATUS_TAG] == "stopped" and "before its first evaluation" in closed.data.tags[REASON_TAG]
    assert client.get_run(done_run.run_id).data.tags[STATUS_TAG] == "finished"
