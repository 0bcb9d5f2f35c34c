"""The promise the layout makes (README, "Layout"): the training core, models, data and metrics import
neither Ray nor MLflow, and the offline tools (report, sync, evaluate) run without Ray. Each module is
imported alone in a fresh interpreter, as a user's script or CLI would import it."""

import subprocess
import sys

import pytest

CORE = ["pipeline.train", "pipeline.gan", "pipeline.models", "pipeline.losses", "pipeline.parallel",
        "pipeline.images", "pipeline.latent", "pipeline.data", "pipeline.metrics", "pipeline.evaluate",
        "pipeline.config", "pipeline.spec_file", "pipeline.capacity"]
OFFLINE = ["pipeline.report", "pipeline.report.render", "pipeline.sync"]


def imported_frameworks(module: str) -> list[str]:
    check = f"import sys, {module}; print(' '.join(m for m in ('ray', 'mlflow') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


@pytest.mark.parametrize("module", CORE)
def test_the_core_imports_neither_ray_nor_mlflow(module):
    assert imported_frameworks(module) == []


@pytest.mark.parametrize("module", OFFLINE)
def test_offline_tools_run_without_ray(module):
    assert "ray" not in imported_frameworks(module)


def test_the_check_anyone_can_run():
    command = "import pipeline.train, sys; assert 'ray' not in sys.modules and 'mlflow' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", command], timeout=120).returncode == 0
