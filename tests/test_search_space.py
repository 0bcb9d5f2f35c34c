"""The spec's parameters as Ray Tune sees them (no Ray started)."""

import subprocess
import sys

from ray.tune.search import BasicVariantGenerator

from pipeline.spec.loading import load_spec
from pipeline.sweep.searchers import search_algorithm
from pipeline.sweep.space import PARAMS_KEY, grid_points, param_space, trial_name

from .conftest import SEARCH_SPACES, sweep_cli

RANDOM = [
    "search.algorithm=random",
    "search.num_samples=6",
    "search.seed=3",
    "parameters={optim.d.lr: {log_uniform: [1.0e-5, 1.0e-2]}, optim.d.name: {choice: [adam, rmsprop, sgd]},"
    " train.batch_size: {choice: [32, 64]}, model.dropout: {uniform: [0.0, 0.5]}, model.width: {randint: [16, 32]}}",
]


def test_random_domains_sample_inside_their_bounds():
    spec = load_spec(SEARCH_SPACES / "ring8.yaml", RANDOM)
    domains = param_space(spec)[PARAMS_KEY]
    for _ in range(50):
        assert 1e-5 <= domains["optim.d.lr"].sample() <= 1e-2
        assert domains["optim.d.name"].sample() in ("adam", "rmsprop", "sgd")
        assert 0.0 <= domains["model.dropout"].sample() <= 0.5
        assert 16 <= domains["model.width"].sample() <= 32  # the file's randint bounds are inclusive
    assert {domains["model.width"].sample() for _ in range(400)} >= {16, 32}


def test_grid_expands_to_every_combination():
    spec = load_spec(SEARCH_SPACES / "ring8.yaml", ["search.num_samples=2"])
    points = grid_points(spec)
    assert len(points) == 2 * 2 * 2
    assert param_space(spec)[PARAMS_KEY]["model.dropout"] == {"grid_search": [0.0, 0.3]}
    assert trial_name(points[1]) == "optim.d.lr=0.0003,model.dropout=0.3"


def test_search_algorithm_is_seeded_and_capped():
    spec = load_spec(SEARCH_SPACES / "ring8.yaml", [*RANDOM, "search.max_concurrent=3"])
    algorithm = search_algorithm(spec)
    assert isinstance(algorithm, BasicVariantGenerator)
    assert algorithm.max_concurrent == 3


def test_dry_run_describes_a_random_search():
    result = sweep_cli(str(SEARCH_SPACES / "ring8.yaml"), "--dry-run",
                       *[arg for item in RANDOM for arg in ("--set", item)])
    assert result.returncode == 0, result.stderr
    assert "6 trials drawn by random search (seed 3)" in result.stdout
    assert "optim.d.lr: log_uniform [1e-05, 0.01]" in result.stdout


def test_help_explains_the_options():
    result = subprocess.run([sys.executable, "-m", "pipeline.sweep", "--help"], capture_output=True, text=True,
                            timeout=60)  # the module as users run it
    for option in ("--set", "--tracking-uri", "--address", "--dry-run", "--storage-path", "--require-gpu"):
        assert option in result.stdout
