"""Studies that grow: `--extend` adds trials to a finished sweep under its parent run, and
`search.warm_start` starts an Optuna study with an earlier sweep's trials."""

import subprocess
import sys

import pytest

from pipeline.spec.loading import load_spec
from pipeline.sweep.growth import warm_started
from pipeline.sweep.history import History
from pipeline.sweep.searchers import search_algorithm
from pipeline.sweep.space import PARAMS_KEY, listed_points, param_space, tune_num_samples
from pipeline.tracking.history import LoggedTrial
from pipeline.tracking.keys import EXTENSIONS_TAG, ROLE_TAG
from pipeline.tracking.location import SweepRun

from .conftest import SEARCH_SPACES, TINY, run_sweep, trial_runs

LR = "parameters={optim.d.lr: {log_uniform: [1.0e-4, 3.0e-3]}, model.dropout: {choice: [0.0, 0.3]}}"


def spec(*overrides):
    return load_spec(SEARCH_SPACES / "ring8.yaml", list(overrides))


def logged(lr: float, dropout: float, value: float) -> LoggedTrial:
    return LoggedTrial({"optim.d.lr": lr, "model.dropout": dropout}, {"hq_fraction": value, "fid": 1.0})


def test_history_keeps_the_trials_inside_the_space():
    history = History.from_trials(spec("search.algorithm=random", LR), [
        logged(0.001, 0.3, 0.9), logged(0.01, 0.0, 0.8), logged(0.0002, 0.5, 0.7),
        LoggedTrial({"optim.d.lr": 0.001, "model.dropout": 0.0}, {"fid": 2.0})], extension=1)
    assert history.points == ({"optim.d.lr": 0.001, "model.dropout": 0.3},)  # lr 0.01 and dropout 0.5 are outside
    assert history.skipped == 3  # and the last has no hq_fraction


def test_a_grid_extension_runs_only_the_points_no_trial_ran():
    grid = spec()
    history = History.from_trials(grid, [logged(0.0003, 0.0, 0.9), logged(0.001, 0.3, 0.9)], extension=1)
    assert listed_points(grid, history) == [{"optim.d.lr": 0.0003, "model.dropout": 0.3},
                                            {"optim.d.lr": 0.001, "model.dropout": 0.0}]
    assert param_space(grid, history)[PARAMS_KEY]["grid_search"] == listed_points(grid, history)


def test_a_random_extension_draws_new_points():
    random = spec("search.algorithm=random", "search.num_samples=3", "search.seed=0", LR)
    first, second = (listed_points(random, History(extension=n)) for n in (1, 2))
    assert len(first) == len(second) == 3 and first != second
    assert tune_num_samples(random, History(extension=1)) == 1  # the drawn points run once each


@pytest.mark.parametrize("objectives", [[], ["metric=[hq_fraction, fid]", "mode=[max, min]"]])
def test_optuna_starts_with_the_earlier_trials(objectives):
    optuna = spec("search.algorithm=optuna", "search.num_samples=3", LR, *objectives)
    history = History.from_trials(optuna, [logged(0.001, 0.3, 0.9), logged(0.0005, 0.0, 0.5)])
    searcher = search_algorithm(optuna, history=history)
    searcher.set_search_properties(optuna.primary_metric, optuna.primary_mode, param_space(optuna))
    study = searcher.searcher._ot_study
    assert [t.params for t in study.trials] == [{"params/optim.d.lr": 0.001, "params/model.dropout": 0.3},
                                                {"params/optim.d.lr": 0.0005, "params/model.dropout": 0.0}]
    assert [t.values for t in study.trials] == ([[0.9], [0.5]] if not objectives else [[0.9, 1.0], [0.5, 1.0]])
    assert searcher.suggest("new")[PARAMS_KEY]  # and goes on proposing


def test_extend_and_resume_exclude_each_other():
    result = subprocess.run([sys.executable, "-m", "pipeline.sweep", str(SEARCH_SPACES / "ring8.yaml"),
                             "--extend", "--resume"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "--extend and --resume" in result.stderr


@pytest.mark.e2e
def test_an_extended_sweep_has_one_parent_and_every_trial(tmp_path, capsys):
    tiny = [*TINY, "search.algorithm=random", "search.seed=0", "search.num_samples=2", LR]
    client, _ = run_sweep(tmp_path, "ring8.yaml", *tiny)
    first = {run.info.run_id for run in trial_runs(client, "ring8")}
    _, result = run_sweep(tmp_path, "ring8.yaml", *tiny, extra=["--extend"])
    assert "extending" in result.stdout
    runs = trial_runs(client, "ring8")
    parents = [r for r in client.search_runs([runs[0].info.experiment_id]) if r.data.tags.get(ROLE_TAG) == "parent"]
    assert len(parents) == 1 and len(runs) == 4 and first < {run.info.run_id for run in runs}
    assert parents[0].data.tags[EXTENSIONS_TAG] == "1" and parents[0].info.status == "FINISHED"
    assert len({run.data.params["optim.d.lr"] for run in runs}) == 4  # new draws, not the first two again
    report = (tmp_path / "reports" / "ring8.html").read_text()
    assert all(run.info.run_name in report for run in runs)
    # pipeline.sync reads both Tune folders, the first run's and the extension's: every trial, nothing missing
    synced = subprocess.run([sys.executable, "-m", "pipeline.sync", "ring8", "--tracking-uri", client.tracking_uri],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert synced.returncode == 0, synced.stderr[-2000:]
    assert synced.stdout.count(": 0 metric values recovered") == 4, synced.stdout
    # an extension the sweep cannot take (other seeds) is refused before Ray starts, the sweep as it was
    overrides = [f"--set={override}" for override in [*tiny, "search.seeds=2"]]
    refused = subprocess.run([sys.executable, "-m", "pipeline.sweep", str(SEARCH_SPACES / "ring8.yaml"), "--extend",
                              "--tracking-uri", client.tracking_uri, *overrides],
                             cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "cannot extend sweep" in refused.stderr, refused.stderr[-2000:]
    assert "Ray instance" not in refused.stdout + refused.stderr
    parent = client.get_run(parents[0].info.run_id)
    assert parent.data.tags[EXTENSIONS_TAG] == "1" and parent.info.status == "FINISHED"
    # nor is a sweep that is still running (its driver busy, or killed before it closed the run)
    client.update_run(parent.info.run_id, status="RUNNING")
    running = subprocess.run(refused.args[:-1], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert running.returncode == 2 and "it is still running" in running.stderr, running.stderr[-2000:]
    # a new Optuna sweep warm-started from these 4 (the driver's step before its Tuner starts)
    warm = load_spec(SEARCH_SPACES / "ring8.yaml", [LR, "search.algorithm=optuna", "search.warm_start=ring8",
                                                    "parameters.optim.d.lr.log_uniform=[1.0e-4, 1.0e-3]"])
    history = warm_started(warm, "ring8.yaml", SweepRun(client.tracking_uri, runs[0].info.experiment_id, "", "x"),
                           History())
    inside = [float(run.data.params["optim.d.lr"]) <= 1e-3 for run in runs]
    assert len(history.points) == sum(inside) and history.skipped == 4 - sum(inside)
    assert f"{sum(inside)} of its trials told to Optuna, {4 - sum(inside)} outside" in capsys.readouterr().out
