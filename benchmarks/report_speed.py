"""How the report scales with the trials: a real random sweep of N trials, then its report built from
a fresh process (from SQLite, and from an `mlflow server` on loopback), its size, and Chromium's load.

    python benchmarks/report_speed.py --trials 1000 --steps 50 --eval-every 25 --workdir /tmp/report-1000
    python benchmarks/report_speed.py --trials 20            # issue 7's case: 500 steps, an evaluation every 50

The sweep is ring8 with random search over both learning rates (and dropout), unless the workdir
already holds one. Measured per size: sweep wall, the driver's peak memory (its resident set, polled),
per-trial overhead (slots x wall less the trials' own run time, per trial), `python -m pipeline.report`
wall, the page's size and images, Chromium's load time and console errors.

Targets (issue 35): at 1,000 trials the report builds in under 60 s on 2 cores, is under 15 MB, loads in
Chromium in under 3 s; from the server its build is within 2x of SQLite's.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil
from mlflow.tracking import MlflowClient
from sweep_cli import SPECS, sweep_command, tracking_uri  # this folder's: the script's own directory is on sys.path

SPEC = SPECS / "ring8.yaml"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SLOTS = 2  # concurrent trials on the 2-core machine: one CPU each


def peak_memory_of(command: list[str], cwd: Path, log: Path) -> tuple[float, float]:
    """Run `command` to its end; (seconds, peak resident MB of its own process) while polling every 0.5 s."""
    started = time.perf_counter()
    with open(log, "w") as out:
        process = subprocess.Popen(command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        watched, peak = psutil.Process(process.pid), 0
        while process.poll() is None:
            try:
                peak = max(peak, watched.memory_info().rss)
            except psutil.NoSuchProcess:
                break
            time.sleep(0.5)
    if process.wait() != 0:
        raise SystemExit(f"the sweep failed: see {log}")
    return time.perf_counter() - started, peak / 2**20


def run_random_sweep(workdir: Path, trials: int, steps: int, eval_every: int) -> tuple[float, float]:
    overrides = [f"trial.train.steps={steps}", f"trial.train.eval_every={eval_every}", "trial.eval.samples=500",
                 "search.algorithm=random", f"search.num_samples={trials}", "search.seed=0",
                 "parameters={optim.d.lr: {log_uniform: [1.0e-4, 3.0e-3]}, optim.g.lr: {log_uniform: [1.0e-4, 3.0e-3]},"
                 " model.dropout: {uniform: [0.0, 0.5]}}"]
    command = sweep_command(SPEC, workdir, overrides, db="ml.db")
    return peak_memory_of(command, workdir, workdir / "sweep.log")


def trial_seconds(uri: str) -> list[float]:
    """Each trial run's own wall (its MLflow start to end)."""
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("ring8")
    runs = client.search_runs([experiment.experiment_id], "tags.mlflow.parentRunId != ''", max_results=5000)
    return [(run.info.end_time - run.info.start_time) / 1000 for run in runs if run.info.end_time]


def build_report(uri: str, out: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pipeline.report", "ring8", "--tracking-uri", uri, "--out", str(out)],
                   check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def serve(workdir: Path) -> tuple[subprocess.Popen, str]:
    """`mlflow server` on loopback over the sweep's SQLite file; its URI once it answers."""
    port = 5000 + (hash(str(workdir)) % 1000)
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
                               "--backend-store-uri", tracking_uri(workdir, "ml.db"), "--workers", "1"],
                              cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    uri = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            MlflowClient(uri).search_experiments(max_results=1)
            return server, uri
        except Exception:  # not answering yet
            time.sleep(1)
    server.kill()
    raise SystemExit(f"mlflow server on {uri} did not answer in 120 s")


def open_in_chromium(report: Path) -> tuple[list[str], int, int, float, int]:
    """(console errors, images, undecodable images, seconds to load, leaderboard rows) in headless Chromium."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        page = browser.new_page()
        errors: list[str] = []
        page.on("console", lambda message: message.type == "error" and errors.append(message.text))
        page.on("pageerror", lambda error: errors.append(str(error)))
        started = time.perf_counter()
        page.goto(report.as_uri())
        page.wait_for_load_state("load")
        loaded = time.perf_counter() - started
        images = page.evaluate("Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)")
        rows = page.evaluate("document.querySelectorAll('#leaderboard tbody tr').length")
        browser.close()
    return errors, len(images), images.count(False), loaded, rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--steps", type=int, default=500, help="training steps a trial")
    parser.add_argument("--eval-every", type=int, default=50, help="steps between a trial's evaluations")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/report-bench"))
    parser.add_argument("--no-server", action="store_true", help="skip the build from an mlflow server")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    uri = tracking_uri(args.workdir, "ml.db")
    measured = args.workdir / "sweep.json"
    if not (args.workdir / "ml.db").exists():
        wall, peak = run_random_sweep(args.workdir, args.trials, args.steps, args.eval_every)
        measured.write_text(json.dumps({"wall": wall, "peak_mb": peak}))
    sweep = json.loads(measured.read_text())
    own = trial_seconds(uri)
    overhead = (SLOTS * sweep["wall"] - sum(own)) / len(own)
    out = args.workdir / "report.html"
    build = build_report(uri, out)
    served_build = None
    if not args.no_server:
        server, served_uri = serve(args.workdir)
        try:
            served_build = build_report(served_uri, args.workdir / "report-served.html")
        finally:
            server.terminate()
            server.wait()
    errors, images, broken, loaded, rows = open_in_chromium(out)
    print("| trials | sweep wall (min) | driver peak (MB) | trial's own run (s, median) | overhead per trial (s) "
          "| report build (s) | from mlflow server (s) | file (MB) | images | leaderboard rows | Chromium load (s) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    median_own = sorted(own)[len(own) // 2]
    served = "" if served_build is None else f"{served_build:.1f}"
    print(f"| {len(own)} | {sweep['wall'] / 60:.1f} | {sweep['peak_mb']:.0f} | {median_own:.1f} | {overhead:.1f} "
          f"| {build:.1f} | {served} | {out.stat().st_size / 1e6:.1f} | {images} | {rows} | {loaded:.1f} |")
    print(f"machine: {platform.machine()}, {psutil.cpu_count()} cores, Python {platform.python_version()}; "
          f"undecodable images: {broken}; console errors: {errors}")
    return 0 if not errors and not broken else 1


if __name__ == "__main__":
    sys.exit(main())
