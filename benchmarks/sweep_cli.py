"""Running a real sweep from a benchmark: `python -m pipeline.sweep SPEC --set ...` in a work folder.

Imported by the benchmark scripts beside it (a script's own directory is on sys.path):

    from sweep_cli import run_sweep
    run_sweep(SPECS / "ring8.yaml", workdir, ["trial.train.steps=600"], log=workdir / "sweep.log")

Everything the sweep writes stays in the work folder: MLflow's SQLite file (`db`), Tune's results
(ray_results/) and the report (reports/).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SPECS = Path(__file__).resolve().parents[1] / "search_spaces"


def tracking_uri(workdir: Path, db: str = "mlflow.db") -> str:
    return f"sqlite:///{workdir / db}"


def sweep_command(spec: Path, workdir: Path, overrides: list[str], *, experiment: str | None = None,
                  db: str = "mlflow.db") -> list[str]:
    command = [sys.executable, "-m", "pipeline.sweep", str(spec), "--tracking-uri", tracking_uri(workdir, db),
               "--report-dir", str(workdir / "reports"), "--storage-path", str(workdir / "ray_results")]
    if experiment is not None:
        command += ["--experiment", experiment]
    for override in overrides:
        command += ["--set", override]
    return command


def run_sweep(spec: Path, workdir: Path, overrides: list[str], *, log: Path | None, experiment: str | None = None,
              db: str = "mlflow.db") -> None:
    """Run the sweep to its end in `workdir`, its output into `log` (None: discarded); raise if it fails."""
    command = sweep_command(spec, workdir, overrides, experiment=experiment, db=db)
    if log is None:
        subprocess.run(command, cwd=workdir, stdout=subprocess.DEVNULL, check=True)
        return
    with open(log, "w") as out:
        subprocess.run(command, cwd=workdir, stdout=out, stderr=subprocess.STDOUT, check=True)
