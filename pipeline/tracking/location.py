"""Where a sweep's runs live and how to reach them: the tracking URI (from the command line, the
environment or ./mlflow.db), a fast reachability probe, retries, and `SweepRun`, the picklable
address of one sweep that the driver, the trials and the offline commands share. Finding runs in
it is tracking/run_queries.py.

    uri = resolve_tracking_uri(None)      # $MLFLOW_TRACKING_URI, else sqlite:///<cwd>/mlflow.db
    sweep = SweepRun(uri, experiment_id, parent_run_id, "dropout")
"""

from __future__ import annotations

import argparse
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"

RETRIES = 5  # a busy SQLite file or a restarting server: back off 0.5, 1, 2, 4 s
BACKOFF_S = 0.5  # the first retry's wait; each later one waits twice as long

T = TypeVar("T")


def add_sweep_arguments(parser: argparse.ArgumentParser) -> None:
    """NAME, --tracking-uri and --run-id: how the report and sync commands name a sweep."""
    parser.add_argument("name", help="the sweep's MLflow experiment (the spec's name unless --experiment was given)")
    parser.add_argument("--tracking-uri", default=None,
                        help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db here)")
    parser.add_argument("--run-id", default=None, help="the sweep's parent run (default: the newest sweep)")


def resolve_tracking_uri(uri: str | None) -> str:
    """--tracking-uri, else MLFLOW_TRACKING_URI, else ./mlflow.db; SQLite paths made absolute,
    because Ray runs trials in other working directories."""
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        uri = prefix + str(Path(uri[len(prefix) :]).resolve())
    return uri


def check_reachable(uri: str, timeout: float = 5.0) -> None:
    """Fail fast when an HTTP tracking server does not answer: MLflow's own client retries for minutes.

    Any HTTP answer (even 401/403) means a server is there: MLflow then reports the real problem.
    """
    if not uri.startswith(("http://", "https://")):
        return
    try:
        urllib.request.urlopen(f"{uri.rstrip('/')}/api/2.0/mlflow/experiments/search?max_results=1", timeout=timeout)
    except urllib.error.HTTPError:
        return
    except OSError as err:
        raise ConnectionError(f"cannot reach the MLflow tracking server {uri}: {err}") from err


def artifact_root_for(uri: str) -> str | None:
    """Beside a SQLite file, artifacts go to ./mlartifacts next to it (as `mlflow server` does)."""
    if uri.startswith("sqlite:///"):
        return (Path(uri[len("sqlite:///") :]).parent / "mlartifacts").resolve().as_uri()
    return None


def with_retries(action: Callable[[], T], what: str, attempts: int = RETRIES) -> T:
    for attempt in range(attempts):
        try:
            return action()
        except (MlflowException, OSError) as err:
            if attempt == attempts - 1:
                raise
            delay = BACKOFF_S * 2**attempt
            reason = f"{type(err).__name__}: {str(err)[:200]}"
            print(f"MLflow {what} failed ({reason}); retrying in {delay:.1f}s", flush=True)
            time.sleep(delay)
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class SweepRun:
    """Where a sweep's runs live; small and picklable, so it travels to every trial."""

    tracking_uri: str
    experiment_id: str
    run_id: str
    experiment_name: str

    def client(self) -> MlflowClient:
        return MlflowClient(self.tracking_uri)
