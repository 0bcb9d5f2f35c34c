"""Shared test helpers: the real shipped specs, shrunk to tiny budgets."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import SweepSpec, load_spec

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
