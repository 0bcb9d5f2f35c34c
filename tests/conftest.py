"""Shared test helpers: the real shipped specs, shrunk to tiny budgets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from pipeline.config import SweepSpec
from pipeline.run_keys import ROLE_TAG
from pipeline.spec_file import load_spec

ROOT = Path(__file__).resolve().parents[1]
SEARCH_SPACES = ROOT / "search_spaces"
TINY = ["trial.train.steps=40", "trial.train.eval_every=20", "trial.eval.samples=200"]


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


def run_sweep(workdir: Path, spec: str, *overrides: str) -> tuple[MlflowClient, subprocess.CompletedProcess]:
    """`python -m pipeline.sweep search_spaces/SPEC --set ...` as a user runs it, tracked in workdir/ml.db."""
    uri = f"sqlite:///{workdir / 'ml.db'}"
    command = [sys.executable, "-m", "pipeline.sweep", str(SEARCH_SPACES / spec), "--tracking-uri", uri]
    for override in overrides:
        command += ["--set", override]
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return MlflowClient(uri), result


def trial_runs(client: MlflowClient, experiment_name: str) -> list:
    experiment = client.get_experiment_by_name(experiment_name)
    return [r for r in client.search_runs([experiment.experiment_id]) if r.data.tags.get(ROLE_TAG) == "trial"]


@pytest.fixture(scope="session")
def diverging_grid25_sweep(tmp_path_factory) -> tuple[Path, MlflowClient]:
    """Issue 3's packed grid25 sweep, one trial of which explodes (d.lr 1000): shared by the trial-core
    test and the report's browser test, so CI runs it once."""
    workdir = tmp_path_factory.mktemp("grid25")
    client, _ = run_sweep(
        workdir, "grid25.yaml", "trial.model.pack=2", "trial.train.steps=200", "trial.train.eval_every=100",
        "trial.eval.samples=500", "parameters={optim.d.lr: {grid: [1.0e-3, 1000]}}",
    )
    return workdir, client
