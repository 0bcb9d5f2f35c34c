"""How many concurrent trials one MLflow tracking server holds: N trial-like writers, each the pipeline's
own trial side (`TrialRun`: its retries, its kept calls, its system-metrics sampler) logging what a trial
logs (every metric at each evaluation, the sample grid and the modes histogram, then both checkpoints and
its status), against `mlflow server` on PostgreSQL and on SQLite, started here on a test host.

    python -m benchmarks.tracking_load --writers 1 8 16 32 64 --evaluations 10 --interval 2

Per backend and N: points lost (logged metric values the server does not hold at the end; must be 0),
p50/p95/max of one evaluation's logging (the owner check, a metrics batch and two images, as
`log_evaluation` sends them; PNG encoding included), calls kept for later (the store did not answer in
time), the share of a writer's time spent logging (mean latency against latency plus `--interval`),
and the evaluations logged per second over the whole run (its wall includes starting the writers).
Run from the repository's root, as root (PostgreSQL runs as its own user on a network-namespace host).
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import platform
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch
from mlflow.tracking import MlflowClient

from pipeline.spec import metric_names as names
from pipeline.spec.config import flatten
from pipeline.spec.loading import load_spec
from pipeline.tracking.sweep_runs import open_sweep
from pipeline.tracking.trial_run import TrialRun
from pipeline.tracking.trial_runs import CHECKPOINT_ARTIFACT, RANKED_ARTIFACT
from tests.network import TestNetwork
from tests.servers import MlflowServer, PostgresServer

SPEC = Path("search_spaces/ring8.yaml")
METRICS = [names.FID, names.KID, names.KID_SD, names.PRECISION, names.RECALL, names.DENSITY, names.COVERAGE,
           names.MODES, names.MODE_KL, names.HQ_FRACTION, names.LOSS_D, names.LOSS_G, names.D_ACC_REAL,
           names.D_ACC_FAKE]
THREADS_PER_PROCESS = 8  # writers per process: a process each would be 64 Python interpreters with MLflow loaded
CHECKPOINT_BYTES = 400_000  # about a ring8 GAN's checkpoint (both networks, both optimizers)


def writer(sweep, index: int, evaluations: int, interval: float, out: list) -> None:
    """One trial's logging, timed per evaluation."""
    spec = load_spec(SPEC)
    run = TrialRun(sweep, f"load-{index:03d}", f"writer {index}", flatten(spec.trial.model_dump()))
    rng = np.random.default_rng(index)
    latencies = []
    for evaluation in range(1, evaluations + 1):
        time.sleep(interval)
        metrics = {key: float(rng.random()) for key in METRICS}
        images = {names.SAMPLES_IMAGE: rng.integers(0, 255, (266, 266, 3), dtype=np.uint8),
                  names.MODES_IMAGE: rng.integers(0, 255, (300, 400, 3), dtype=np.uint8)}
        started = time.perf_counter()
        run.log_evaluation(evaluation * 100, metrics, images)
        latencies.append(time.perf_counter() - started)
    checkpoint = {"state": torch.from_numpy(rng.random(CHECKPOINT_BYTES // 8))}
    run.log_checkpoint(checkpoint, CHECKPOINT_ARTIFACT)
    run.log_checkpoint(checkpoint, RANKED_ARTIFACT)
    run.finish("finished")
    out.append({"run_id": run.run_id, "latencies": latencies, "kept": len(run.pending)})


def process_writers(sweep, first: int, count: int, evaluations: int, interval: float, queue) -> None:
    out: list = []
    threads = [threading.Thread(target=writer, args=(sweep, first + n, evaluations, interval, out))
               for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    queue.put(out)


def load(uri: str, writers: int, evaluations: int, interval: float) -> dict:
    """N writers at once against the server at `uri`; what the server then holds, checked run by run."""
    spec = load_spec(SPEC, [f"name=load-{writers}-{time.time_ns()}"])
    sweep = open_sweep(spec, str(SPEC), uri)
    queue = multiprocessing.get_context("spawn").Queue()
    groups = [(first, min(THREADS_PER_PROCESS, writers - first)) for first in range(0, writers, THREADS_PER_PROCESS)]
    started = time.monotonic()
    processes = [multiprocessing.get_context("spawn").Process(
        target=process_writers, args=(sweep, first, count, evaluations, interval, queue)) for first, count in groups]
    for process in processes:
        process.start()
    results = [item for _ in processes for item in queue.get()]
    for process in processes:
        process.join()
    wall = time.monotonic() - started
    client = MlflowClient(uri)
    held = sum(len(client.get_metric_history(r["run_id"], key)) for r in results for key in METRICS)
    latencies = sorted(t for r in results for t in r["latencies"])
    return {"writers": writers, "lost": writers * evaluations * len(METRICS) - held,
            "p50_ms": round(1000 * statistics.median(latencies)),
            "p95_ms": round(1000 * latencies[int(0.95 * (len(latencies) - 1))]),
            "max_ms": round(1000 * latencies[-1]), "kept": sum(r["kept"] for r in results),
            "logging_share": round(statistics.mean(latencies) / (statistics.mean(latencies) + interval), 2),
            "evaluations_per_s": round(writers * evaluations / wall, 2), "wall_s": round(wall, 1)}


def measure(backend: str, counts: list[int], evaluations: int, interval: float, workers: int) -> list[dict]:
    rows = []
    with TestNetwork() as net:
        host = net.add_host("tracking")
        root = Path(tempfile.mkdtemp(prefix="gs-load-"))
        db = PostgresServer(host) if backend == "postgresql" else None
        try:
            if db is not None:
                db.start()
            server = MlflowServer(root, 5000, backend_uri=db.uri if db else None, host=host, workers=workers)
            server.start()
            for count in counts:
                row = {"backend": backend, "server_workers": workers} | load(server.uri, count, evaluations, interval)
                print(json.dumps(row), flush=True)
                rows.append(row)
            server.stop()
        finally:
            if db is not None:
                db.remove()
            shutil.rmtree(root, ignore_errors=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--writers", type=int, nargs="+", default=[1, 8, 16, 32, 64])
    parser.add_argument("--evaluations", type=int, default=10, help="evaluations per writer")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds of 'training' between evaluations")
    parser.add_argument("--backends", nargs="+", default=["postgresql", "sqlite"], choices=["postgresql", "sqlite"])
    parser.add_argument("--server-workers", type=int, default=4, help="mlflow server --workers")
    parser.add_argument("--out", type=Path, default=None, help="also write the rows as JSON here")
    args = parser.parse_args()
    buffer = io.StringIO()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(f"# {platform.platform()}, {multiprocessing.cpu_count()} CPUs, commit {commit}", file=buffer)
    rows = [row for backend in args.backends
            for row in measure(backend, args.writers, args.evaluations, args.interval, args.server_workers)]
    print(buffer.getvalue().strip())
    print("| backend | writers | points lost | p50 ms | p95 ms | max ms | calls kept | share of a trial's time | "
          "evaluations/s | wall s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['backend']} | {r['writers']} | {r['lost']} | {r['p50_ms']} | {r['p95_ms']} | {r['max_ms']} | "
              f"{r['kept']} | {r['logging_share']:.0%} | {r['evaluations_per_s']} | {r['wall_s']} |")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
