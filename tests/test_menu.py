"""The searchers, schedulers and budgets beyond grid/random/TPE and FIFO/ASHA/PBT: Optuna's CMA-ES and
GP samplers, median stopping, HyperBand (BOHB, with Optuna proposing), PB2, search.time_budget_s and
search.target. Config checks and Tune objects, then real tiny ring8 sweeps."""

import pytest
from optuna.samplers import CmaEsSampler, GPSampler, TPESampler
from ray.tune.schedulers import HyperBandForBOHB, MedianStoppingRule
from ray.tune.schedulers.pb2 import PB2

from pipeline.spec import metric_names as names
from pipeline.spec.config import ConfigError
from pipeline.spec.loading import load_spec
from pipeline.sweep.searchers import PausingLimiter, optuna_sampler, search_algorithm
from pipeline.sweep.space import scheduler
from pipeline.sweep.stoppers import TargetStopper
from pipeline.tracking.keys import END_REASON_TAG, REASON_TAG, STATUS_TAG

from .conftest import PB2_MUTATIONS, SEARCH_SPACES, fid_steps, ring8_sweep

OPTUNA_SPACE = ["search.algorithm=optuna", "parameters={optim.d.lr: {log_uniform: [1.0e-4, 3.0e-3]}, "
                "optim.g.lr: {log_uniform: [1.0e-4, 3.0e-3]}}"]


@pytest.mark.parametrize(
    ("overrides", "key", "fragment"),
    [
        (["search.sampler=cmaes"], "search.sampler", "set search.algorithm: optuna"),
        ([*OPTUNA_SPACE, "search.sampler=cmaes", "parameters.model.dropout.choice=[0.0, 0.3]"],
         "parameters.model.dropout", "not choice"),
        ([*OPTUNA_SPACE, "search.sampler=cmaes", "metric=[fid, recall]", "mode=[min, max]"], "search.sampler",
         "one metric"),
        (["scheduler.name=hyperband"], "scheduler.name", "search.algorithm: optuna"),
        (["search.sampler=annealing"], "search.sampler", "'tpe', 'cmaes' or 'gp'"),
        (["scheduler={name: pb2, mutations: {optim.d.lr: {choice: [1.0e-4, 1.0e-3]}}}"], "scheduler",
         "uniform or log_uniform"),
        ([*PB2_MUTATIONS, "search.seeds=2"], "search.seeds", "pb2 copies one trial's state"),
        (["scheduler.name=median", "scheduler.mutations.optim.d.lr.uniform=[0.1,0.2]"], "scheduler",
         "pbt and pb2 schedulers only"),
        (["search.time_budget_s=0"], "search.time_budget_s", "greater than 0"),
    ],
)
def test_menu_errors_name_the_key(overrides, key, fragment):
    with pytest.raises(ConfigError) as info:
        load_spec(SEARCH_SPACES / "ring8.yaml", overrides)
    assert info.value.key == key and fragment in info.value.message


def test_tune_objects_follow_the_menu():
    def spec(*overrides):
        return load_spec(SEARCH_SPACES / "ring8.yaml", list(overrides))

    tpe = optuna_sampler(spec(*OPTUNA_SPACE))
    assert isinstance(tpe, TPESampler) and tpe._constant_liar  # concurrent trials are not proposed twice
    assert isinstance(optuna_sampler(spec(*OPTUNA_SPACE, "search.sampler=cmaes")), CmaEsSampler)
    assert isinstance(optuna_sampler(spec(*OPTUNA_SPACE, "search.sampler=gp")), GPSampler)
    assert isinstance(scheduler(spec("scheduler.name=median")), MedianStoppingRule)
    bohb = spec(*OPTUNA_SPACE, "scheduler.name=hyperband")
    assert isinstance(scheduler(bohb), HyperBandForBOHB) and isinstance(search_algorithm(bohb), PausingLimiter)
    assert isinstance(scheduler(spec(*PB2_MUTATIONS)), PB2)


def test_a_paused_trial_leaves_room_for_another():
    limiter = search_algorithm(load_spec(SEARCH_SPACES / "ring8.yaml", [
        *OPTUNA_SPACE, "scheduler.name=hyperband", "search.max_concurrent=1"]))
    spec = load_spec(SEARCH_SPACES / "ring8.yaml", OPTUNA_SPACE)
    from pipeline.sweep.space import param_space

    limiter.set_search_properties(spec.primary_metric, spec.primary_mode, param_space(spec))
    assert limiter.suggest("a") is not None and limiter.suggest("b") is None  # one at a time
    limiter.on_pause("a")
    assert limiter.suggest("b") is not None  # HyperBand waits for its bracket to fill
    limiter.on_unpause("a")
    assert limiter.suggest("c") is None


def test_target_stops_the_sweep_at_the_first_trial_to_reach_it():
    stop = TargetStopper(names.FID, "min", target=1.0)
    assert not stop("a", {names.FID: 2.0}) and not stop.stop_all()
    assert stop("b", {names.FID: 0.5}) and stop.stop_all()
    assert not stop("a", {names.FID: 0.1}) and stop.reached == ("b", 0.5)  # the first one is kept
    assert not TargetStopper(names.RECALL, "max", 0.9)("a", {names.RECALL: 0.8})


@pytest.mark.e2e
def test_cmaes_with_median_stopping(tmp_path):
    client, runs, parent, _ = ring8_sweep(tmp_path, *OPTUNA_SPACE, "search.sampler=cmaes", "search.num_samples=4",
                                    "search.startup_trials=2", "search.seed=3",
                                    "scheduler={name: median, grace_period: 1, min_samples: 2}")
    assert len(runs) == 4
    for run in runs:
        assert 1e-4 <= float(run.data.params["optim.d.lr"]) <= 3e-3
        assert run.data.tags[STATUS_TAG] in ("finished", "stopped")
        if run.data.tags[STATUS_TAG] == "stopped":
            assert "median" in run.data.tags[REASON_TAG]
    assert parent.data.tags[END_REASON_TAG] == "every trial ran"


@pytest.mark.e2e
def test_gp_with_hyperband_over_a_conditional_space(tmp_path):
    client, runs, _, _ = ring8_sweep(tmp_path, "search.algorithm=optuna", "search.sampler=gp", "search.num_samples=4",
                               "search.startup_trials=2", "scheduler={name: hyperband, reduction_factor: 2}",
                               "parameters={optim.d.name: {choice: [adam, sgd]}, optim.d.lr: {log_uniform: "
                               "[1.0e-4, 3.0e-3]}, optim.d.momentum: {uniform: [0.0, 0.9], when: {optim.d.name: sgd}}}")
    assert len(runs) == 4
    for run in runs:  # momentum is an MLflow param only of the sgd trials (it does not apply to adam)
        assert ("optim.d.momentum" in run.data.params) == (run.data.params["optim.d.name"] == "sgd")
        assert ("optim.d.momentum" in run.info.run_name) == (run.data.params["optim.d.name"] == "sgd")
        steps = fid_steps(client, run)
        assert steps == sorted(set(steps)) and steps[0] == 100  # a paused trial resumes where it was
        assert run.data.tags[STATUS_TAG] in ("finished", "stopped")
        if run.data.tags[STATUS_TAG] == "stopped":
            assert "hyperband" in run.data.tags[REASON_TAG]
