"""The MLflow side against a SQLite store: the parent run's record, trial runs, retries."""

import json

import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from pipeline.spec.loading import load_spec
from pipeline.tracking.keys import METRIC_TAG, ROLE_TAG, SWEPT_PARAM, TRIAL_ID_TAG
from pipeline.tracking.location import resolve_tracking_uri, with_retries
from pipeline.tracking.sweep_runs import open_sweep
from pipeline.tracking.trial_run import TrialRun

from .conftest import SEARCH_SPACES


@pytest.fixture
def sweep(store_uri):
    path = SEARCH_SPACES / "ring8.yaml"
    return open_sweep(load_spec(path), str(path), store_uri, experiment_name="study-1")


def test_parent_run_records_the_spec_settings_and_environment(sweep):
    client = MlflowClient(sweep.tracking_uri)
    assert client.get_experiment(sweep.experiment_id).name == "study-1"
    parent = client.get_run(sweep.run_id)
    assert parent.data.tags[ROLE_TAG] == "parent" and parent.data.tags[METRIC_TAG] == "hq_fraction"
    assert {"ray.version", "torch.version", "mlflow.version", "host.cpus", "host.gpu"} <= set(parent.data.tags)
    assert parent.data.params["search.algorithm"] == "grid" and parent.data.params["search.min_modes"] == "8"
    assert parent.data.params["scheduler.name"] == "fifo"
    assert json.loads(parent.data.params[SWEPT_PARAM]) == ["model.dropout", "optim.d.lr"]
    artifacts = {a.path for a in client.list_artifacts(sweep.run_id)}
    assert {"ring8.yaml", "resolved_spec.json"} <= artifacts


def test_trial_run_is_named_nested_and_found_again(sweep):
    params = {f"p{i}": i for i in range(150)}  # more than one log_batch call of params
    run = TrialRun(sweep, "abc_00001", "model.dropout=0.3", params)
    client = MlflowClient(sweep.tracking_uri)
    record = client.get_run(run.run_id)
    assert record.info.run_name == "model.dropout=0.3"
    assert record.data.tags["mlflow.parentRunId"] == sweep.run_id and record.data.tags[TRIAL_ID_TAG] == "abc_00001"
    assert len(record.data.params) == 150
    assert TrialRun(sweep, "abc_00001", "ignored", params).run_id == run.run_id


def test_retries_back_off_then_give_up(monkeypatch):
    monkeypatch.setattr("pipeline.tracking.sweep_runs.time.sleep", lambda seconds: None)
    attempts = []

    def flaky():
        attempts.append(1)
        if len(attempts) < 3:
            raise MlflowException("server busy")
        return "done"

    assert with_retries(flaky, "test") == "done" and len(attempts) == 3
    with pytest.raises(MlflowException):
        with_retries(lambda: (_ for _ in ()).throw(MlflowException("down")), "test")


def test_relative_sqlite_paths_become_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert resolve_tracking_uri(None) == f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert resolve_tracking_uri(None) == "http://127.0.0.1:5000"
    assert resolve_tracking_uri("sqlite:///x.db") == f"sqlite:///{tmp_path / 'x.db'}"


def test_trials_get_short_mlflow_retries_unless_the_user_set_them(monkeypatch):
    from pipeline.sweep.driver import trial_environment

    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "90")
    env = trial_environment()
    assert env["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "1" and env["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "90"
    assert env["TUNE_FUNCTION_THREAD_TIMEOUT_S"] == "60"
