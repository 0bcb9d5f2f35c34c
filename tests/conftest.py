"""Shared test helpers: the real shipped specs, shrunk to tiny budgets."""

from __future__ import annotations

import atexit
import contextlib
import functools
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import torch
from filelock import FileLock
from mlflow.tracking import MlflowClient

from pipeline.report.load import exploits
from pipeline.spec import metric_names as names
from pipeline.spec.config import SweepSpec
from pipeline.spec.loading import load_spec
from pipeline.sweep.cli import main
from pipeline.tracking.keys import ROLE_TAG

if "PYTEST_XDIST_WORKER" in os.environ:
    # one pytest-xdist worker per core: torch's threads per worker would only contend with the other's
    torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parents[1]
SEARCH_SPACES = ROOT / "search_spaces"
TINY = ["trial.train.steps=40", "trial.train.eval_every=20", "trial.eval.samples=200"]


@pytest.fixture(scope="session")
def weights_file(tmp_path_factory) -> Path:
    """A randomly initialised FID Inception network saved as pytorch-fid's weights file is (a plain state
    dict): the real weights cannot be fetched here."""
    from pipeline.core.metrics.inception import FIDInception

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "pt_inception.pth"
    torch.save(FIDInception().state_dict(), path)
    return path


@functools.cache
def migrated_store() -> Path:
    """An SQLite tracking store with MLflow's tables, made once per test worker (alembic's migrations cost
    2 s, which every test and sweep with a store of its own would pay again), in a folder removed when the
    worker exits. A sweep making its store fresh is still tested where a test gives its own --tracking-uri
    (tests/test_sweep_e2e.py, tests/test_resume.py)."""
    folder = Path(tempfile.mkdtemp(prefix="mlflow-store-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    MlflowClient(f"sqlite:///{folder / 'empty.db'}").search_experiments()
    return folder / "empty.db"


@pytest.fixture
def store_uri(tmp_path) -> str:
    """A fresh tracking store for this test alone (a copy of `migrated_store`), in tmp_path."""
    shutil.copy(migrated_store(), tmp_path / "ml.db")
    return f"sqlite:///{tmp_path / 'ml.db'}"


def tiny_spec(name: str, *overrides: str) -> SweepSpec:
    """A shipped search-space file with a budget of seconds."""
    return load_spec(SEARCH_SPACES / f"{name}.yaml", [*TINY, *overrides])


@pytest.fixture
def spec_file(tmp_path):
    """Write a YAML spec into tmp_path and return its path."""

    def write(text: str) -> Path:
        path = tmp_path / "spec.yaml"
        path.write_text(text)
        return path

    return write


def sweep_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """`python -m pipeline.sweep ARGS`, run in this process by the `main` that the module calls, for the
    paths that start no Ray (dry runs, refusals): a fresh interpreter pays 8 s of imports per call."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.chdir(cwd), contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            code = main(list(args))
        except SystemExit as exit_:  # argparse's refusals and --help
            code = exit_.code
    return subprocess.CompletedProcess(["pipeline.sweep", *args], code, stdout.getvalue(), stderr.getvalue())


def run_sweep(workdir: Path, spec: str, *overrides: str, env: dict[str, str] | None = None,
              extra: list[str] = ()) -> tuple[MlflowClient, subprocess.CompletedProcess]:
    """`python -m pipeline.sweep search_spaces/SPEC --set ...` as a user runs it, tracked in workdir/ml.db
    (`env`: variables added to the environment it runs in; `extra`: more options, e.g. --extend)."""
    uri = f"sqlite:///{workdir / 'ml.db'}"
    if not (workdir / "ml.db").exists():  # a first sweep here: MLflow's tables made once per test worker
        shutil.copy(migrated_store(), workdir / "ml.db")
    command = [sys.executable, "-m", "pipeline.sweep", str(SEARCH_SPACES / spec), "--tracking-uri", uri, *extra]
    for override in overrides:
        command += ["--set", override]
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=600,
                            env=None if env is None else os.environ | env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return MlflowClient(uri), result


PB2_MUTATIONS = ["scheduler={name: pb2, perturbation_interval: 1, quantile_fraction: 0.5, "
                 "mutations: {optim.d.lr: {log_uniform: [1.0e-4, 3.0e-3]}}}"]


def ring8_sweep(tmp_path: Path, *overrides: str):
    """A short ring8 sweep (300 steps, evaluations every 100): (client, trial runs, parent run, stdout)."""
    tmp_path.mkdir(exist_ok=True)
    client, result = run_sweep(tmp_path, "ring8.yaml", "trial.train.steps=300", "trial.train.eval_every=100",
                               "trial.eval.samples=300", "search.max_concurrent=2", *overrides)
    return client, trial_runs(client, "ring8"), sweep_parent(client, "ring8"), result.stdout


def fid_steps(client: MlflowClient, run) -> list[int]:
    return [m.step for m in client.get_metric_history(run.info.run_id, names.FID)]


def created_store(uri: str) -> MlflowClient:
    """A client whose SQLite store has its tables now, before a sweep is started on it: a test that
    polls a store the sweep is still creating creates MLflow's tables at the same moment, and one of
    the two processes fails (alembic: "expected to match one row"; seen in CI as a sweep with no runs)."""
    client = MlflowClient(uri)
    client.search_experiments()
    return client


def trial_runs(client: MlflowClient, experiment_name: str) -> list:
    experiment = client.get_experiment_by_name(experiment_name)
    return [r for r in client.search_runs([experiment.experiment_id]) if r.data.tags.get(ROLE_TAG) == "trial"]


def sweep_parent(client: MlflowClient, experiment_name: str):
    """The sweep's one parent run, found by its role: a sweep may end before any trial opened a run."""
    experiment = client.get_experiment_by_name(experiment_name)
    [parent] = [r for r in client.search_runs([experiment.experiment_id]) if r.data.tags.get(ROLE_TAG) == "parent"]
    return parent


def assert_evaluated_to_the_end(client: MlflowClient, run, key: str, steps: list[int]) -> list:
    """A PBT/PB2 trial logs `key` at each of its own evaluations and ends on the last step. A step it
    lacks lies at or before the step of a checkpoint it took from another trial: an exploit of a trial
    that was ahead jumps over it. Returns the key's history."""
    history = client.get_metric_history(run.info.run_id, key)
    logged = sorted({m.step for m in history})
    taken = [exploit["step"] for exploit in exploits(client, run.info.run_id)]
    assert logged and logged[-1] == steps[-1] and set(logged) <= set(steps), logged
    assert all(any(step <= at for at in taken) for step in set(steps) - set(logged)), (logged, taken)
    return history


def wait_until(condition, what: str, timeout: float, every: float = 0.5) -> None:
    """Poll `condition` until it holds; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not after {timeout:g} s")
        time.sleep(every)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def kill_session(session_id: int, timeout: float = 60) -> None:
    """SIGKILL every live process of a session: one started with start_new_session=True and all that it
    started (a Ray node's daemons and workers included). Stops one Ray instance; `ray stop` would stop
    every Ray instance on the machine, the other pytest-xdist worker's too. Linux (/proc)."""
    deadline = time.monotonic() + timeout
    while members := session_members(session_id):
        if time.monotonic() > deadline:
            raise TimeoutError(f"processes {members} of session {session_id} outlived SIGKILL")
        for pid in members:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.2)


def session_members(session_id: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        try:
            state, _, _, session = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:4]
        except (OSError, ValueError):  # not a process, or one that just ended
            continue
        if int(session) == session_id and state != "Z":  # a zombie is dead, only not yet reaped
            members.append(int(entry.name))
    return members


@pytest.fixture(scope="session")
def diverging_grid25_sweep(tmp_path_factory) -> tuple[Path, MlflowClient]:
    """Issue 3's packed grid25 sweep, one trial of which explodes (d.lr 1000): shared by the trial-core
    test and the report's browser test, so CI runs it once, also when they run in two pytest-xdist
    workers (the first to need it runs it under a lock; the other waits and reads the same store)."""
    base = tmp_path_factory.getbasetemp()
    workdir = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "grid25-shared"
    with FileLock(f"{workdir}.lock"):
        if not (workdir / "done").exists():
            workdir.mkdir(exist_ok=True)
            run_sweep(
                workdir, "grid25.yaml", "trial.model.pack=2", "trial.train.steps=200", "trial.train.eval_every=100",
                "trial.eval.samples=500", "parameters={optim.d.lr: {grid: [1.0e-3, 1000]}}",
            )
            (workdir / "done").touch()
    return workdir, MlflowClient(f"sqlite:///{workdir / 'ml.db'}")
