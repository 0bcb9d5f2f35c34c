"""What MLflow logging costs a trial: one evaluation's batched metrics call plus its sample grid,
against a SQLite file and against `mlflow server` on loopback, beside the training time of one
evaluation interval of the dropout trial.

    python benchmarks/logging_cost.py

Target (issue 6): logging at most 2% of a trial's wall time.
"""

from __future__ import annotations

import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import torch

from pipeline.core.data import load_dataset
from pipeline.core.gan import build_state, generate
from pipeline.core.train import sample_picture, train_steps
from pipeline.spec.loading import load_spec
from pipeline.tracking.location import SweepRun
from pipeline.tracking.sweep_runs import open_sweep
from pipeline.tracking.trial_run import TrialRun

SPEC = "search_spaces/dropout.yaml"
CALLS = 5


def training_seconds(trial) -> tuple[float, dict[str, float], dict]:
    """Wall time of eval_every steps, and one evaluation's metrics-sized dict and picture to log."""
    dataset = load_dataset(trial.dataset)
    state = build_state(trial, dataset, torch.device("cpu"))
    start = time.perf_counter()
    train_steps(state, trial, dataset.points, trial.train.eval_every, torch.zeros(4))  # train's own loop
    seconds = time.perf_counter() - start
    samples = generate(state.generator, torch.randn(64, trial.model.latent_dim))
    metrics = {f"metric_{i}": float(i) for i in range(16)}  # as many scalars as a digit trial logs
    return seconds, metrics, {"samples": sample_picture(samples, dataset)}


def logging_seconds(sweep: SweepRun, metrics: dict[str, float], images: dict) -> float:
    run = TrialRun(sweep, f"bench-{time.time_ns()}", "bench", {"a": 1})
    times = []
    for step in range(CALLS):
        start = time.perf_counter()
        run.log_evaluation(step, metrics, images)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def start_server(root: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--backend-store-uri",
         f"sqlite:///{root / 'server.db'}", "--serve-artifacts", "--artifacts-destination", str(root / "art")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    uri = f"http://127.0.0.1:{port}"
    for _ in range(180):
        try:
            urllib.request.urlopen(f"{uri}/health", timeout=2)
            return server, uri
        except OSError:
            time.sleep(0.5)
    server.kill()
    raise RuntimeError("mlflow server did not start")


def main() -> None:
    torch.set_num_threads(1)
    spec = load_spec(SPEC)
    training, metrics, images = training_seconds(spec.trial)
    print(f"# {platform.machine()}, 1 thread, torch {torch.__version__}; {SPEC}: {spec.trial.train.eval_every} "
          f"steps between evaluations; median of {CALLS} logging calls")
    print("| tracking store | training per interval (s) | logging per evaluation (s) | logging share |")
    print("|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        stores = {"SQLite file": f"sqlite:///{root / 'ml.db'}"}
        server, stores["mlflow server (HTTP, loopback)"] = start_server(root)
        try:
            for label, uri in stores.items():
                sweep = open_sweep(spec, SPEC, uri)
                seconds = logging_seconds(sweep, metrics, images)
                share = seconds / (training + seconds)
                print(f"| {label} | {training:.2f} | {seconds:.3f} | {share:.2%} |", flush=True)
        finally:
            server.terminate()


if __name__ == "__main__":
    main()
