"""How long the report of a 20-trial sweep takes to build, and whether it opens cleanly in Chromium.

    python benchmarks/report_speed.py [--trials 20] [--workdir /tmp/report-bench]

Runs a real sweep first (ring8, random search over both learning rates and dropout, 500 steps with
an evaluation every 50: 10 sample grids per trial), unless the workdir already holds one; then
times `python -m pipeline.report` from a fresh process (reading MLflow, drawing, writing) and opens
the file in headless Chromium through Playwright, counting console errors and undecodable images.

Target (issue 7): under 60 seconds on 2 cores for 20 trials.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

from sweep_cli import SPECS, run_sweep  # this folder's: the script's own directory is on sys.path

SPEC = SPECS / "ring8.yaml"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def run_random_sweep(workdir: Path, trials: int) -> None:
    overrides = ["trial.train.steps=500", "trial.train.eval_every=50", "trial.eval.samples=500",
                 "search.algorithm=random", f"search.num_samples={trials}", "search.seed=0",
                 "parameters={optim.d.lr: {log_uniform: [1.0e-4, 3.0e-3]}, optim.g.lr: {log_uniform: [1.0e-4, 3.0e-3]},"
                 " model.dropout: {uniform: [0.0, 0.5]}}"]
    run_sweep(SPEC, workdir, overrides, log=None, db="ml.db")


def open_in_chromium(report: Path) -> tuple[list[str], int, int, float]:
    """(console errors, images, undecodable images, seconds to load) of the report in headless Chromium."""
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
        browser.close()
    return errors, len(images), images.count(False), loaded


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/report-bench"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    if not (args.workdir / "ml.db").exists():
        started = time.perf_counter()
        run_random_sweep(args.workdir, args.trials)
        print(f"sweep of {args.trials} trials: {time.perf_counter() - started:.0f} s", flush=True)
    out = args.workdir / "report.html"
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pipeline.report", "ring8", "--tracking-uri",
                    f"sqlite:///{args.workdir / 'ml.db'}", "--out", str(out)], check=True, stdout=subprocess.DEVNULL)
    build = time.perf_counter() - started
    errors, images, broken, loaded = open_in_chromium(out)
    print("| trials | report build (s) | file (MB) | images | undecodable | console errors | Chromium load (s) |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {args.trials} | {build:.1f} | {out.stat().st_size / 1e6:.1f} | {images} | {broken} | {len(errors)} "
          f"| {loaded:.1f} |")
    print(f"machine: {platform.machine()}, {platform.python_version()}; errors: {errors}")
    return 0 if build < 60 and not errors and not broken else 1


if __name__ == "__main__":
    sys.exit(main())
