"""Optuna search, ASHA and PBT scheduling, and the collapse rule: config, units, and real tiny sweeps."""


import pytest

from pipeline.report.load import exploits
from pipeline.spec import metric_names as names
from pipeline.spec.config import ConfigError
from pipeline.spec.loading import load_spec
from pipeline.sweep.searchers import search_algorithm
from pipeline.sweep.space import param_space, scheduler
from pipeline.sweep.stoppers import CollapseStopper
from pipeline.tracking.keys import HYPERPARAMETER_PREFIX, REASON_TAG, STATUS_TAG

from .conftest import SEARCH_SPACES, assert_evaluated_to_the_end, run_sweep, trial_runs


@pytest.mark.parametrize(
    ("spec", "override", "key", "fragment"),
    [
        ("full.yaml", "parameters.train.batch_size={grid: [32, 64]}", "parameters.train.batch_size", "use choice"),
        ("pbt.yaml", "scheduler.mutations={}", "scheduler", "pbt needs mutations"),
        ("pbt.yaml", "scheduler.mutations.train.seed.choice=[1,2]", "scheduler", "not train.seed"),
        ("ring8.yaml", "scheduler.mutations.optim.d.lr.uniform=[0.1,0.2]", "scheduler",
         "for the pbt and pb2 schedulers only"),
        ("pbt.yaml", "scheduler.mutations.model.dropout.uniform=[0.0,1.5]", "scheduler.mutations.model.dropout",
         "value 1.5"),
    ],
)
def test_search_and_scheduler_errors(spec, override, key, fragment):
    with pytest.raises(ConfigError) as info:
        load_spec(SEARCH_SPACES / spec, [override])
    assert info.value.key == key and fragment in info.value.message


def test_tune_objects_follow_the_spec():
    full = load_spec(SEARCH_SPACES / "full.yaml", ["search.seeds=1", "search.max_trials=null", "scheduler.name=asha"])
    assert type(search_algorithm(full)).__name__ == "ConcurrencyLimiter"
    assert type(scheduler(full)).__name__ == "AsyncHyperBandScheduler"
    assert type(scheduler(load_spec(SEARCH_SPACES / "pbt.yaml"))).__name__ == "PopulationBasedTraining"


def test_tpe_models_the_results_after_its_startup_trials():
    """The same seed and the same two results: with startup_trials=2 the third point comes from TPE's
    model of them, with Optuna's default of 10 it is still the third random draw."""

    def third_point(startup_trials: int) -> dict:
        spec = load_spec(SEARCH_SPACES / "full.yaml", ["search.seed=0", f"search.startup_trials={startup_trials}",
                                                      "search.seeds=1", "search.max_trials=null"])
        searcher = search_algorithm(spec)
        searcher.set_search_properties(spec.primary_metric, spec.primary_mode, param_space(spec))
        for number, value in enumerate((0.2, 0.7)):
            searcher.suggest(f"t{number}")
            searcher.on_trial_complete(f"t{number}", {spec.primary_metric: value})
        return searcher.suggest("t2")

    assert third_point(2) != third_point(10)
    assert third_point(10) == third_point(3)  # the first three draws are the seed's random ones


def test_collapse_rule_counts_consecutive_collapsed_evaluations():
    stop = CollapseStopper(patience=2)
    assert not stop("a", {names.MODES: 1.0})
    assert not stop("a", {names.MODES: 3.0})  # recovered: the count starts again
    assert not stop("a", {names.MODES: 1.0})
    assert stop("a", {names.MODES: 0.0})
    assert not stop("b", {names.FID: 1.0})  # data without modes is never called collapsed


def sweep_runs(tmp_path, spec, *overrides):
    client, _ = run_sweep(tmp_path, spec, *overrides)
    return client, trial_runs(client, load_spec(SEARCH_SPACES / spec, list(overrides)).name)


@pytest.mark.e2e
def test_optuna_with_asha_on_ring8(tmp_path):
    client, runs = sweep_runs(
        tmp_path, "ring8.yaml", "search.algorithm=optuna", "search.num_samples=4", "search.seed=1",
        "search.max_concurrent=2", "parameters={optim.d.lr: {log_uniform: [1.0e-4, 3.0e-3]}, "
        "model.dropout: {choice: [0.0, 0.3]}}", "scheduler={name: asha, grace_period: 1, reduction_factor: 2}",
        "trial.train.steps=300", "trial.train.eval_every=100", "trial.eval.samples=500",
    )
    assert len(runs) == 4
    for run in runs:
        assert 1e-4 <= float(run.data.params["optim.d.lr"]) <= 3e-3
        assert run.data.params["model.dropout"] in ("0.0", "0.3")
        status = run.data.tags[STATUS_TAG]
        evaluations = len(client.get_metric_history(run.info.run_id, names.FID))
        assert (status, evaluations) in {("finished", 3), ("stopped", 1), ("stopped", 2)}
        if status == "stopped":
            assert "asha" in run.data.tags[REASON_TAG]


@pytest.mark.e2e
def test_pbt_exploits_and_explores_on_ring8(tmp_path):
    client, runs = sweep_runs(
        tmp_path, "pbt.yaml", "search.num_samples=2", "scheduler.perturbation_interval=1",
        "scheduler.quantile_fraction=0.5", "trial.train.steps=400",
        "trial.train.eval_every=100", "trial.eval.samples=500",
    )
    assert len(runs) == 2  # an exploited trial continues its own run: no duplicates
    changed = 0
    for run in runs:
        assert run.data.tags[STATUS_TAG] == "finished"
        history = assert_evaluated_to_the_end(client, run, f"{HYPERPARAMETER_PREFIX}optim.d.lr", [100, 200, 300, 400])
        changed += len({m.value for m in history}) > 1
    assert changed >= 1  # the worse trial took on the better one's checkpoint and perturbed values
    lineage = {run.info.run_id: exploits(client, run.info.run_id) for run in runs}
    assert any(lineage.values())  # values change only through an exploit: each is on the receiving run
    for run_id, taken in lineage.items():
        for exploit in taken:
            assert exploit["donor_run_id"] in lineage and exploit["donor_run_id"] != run_id
            assert exploit["step"] in (100, 200, 300, 400)
            assert set(exploit["new"]) == set(load_spec(SEARCH_SPACES / "pbt.yaml").scheduler.mutations)
            after = [m.value for m in client.get_metric_history(run_id, f"{HYPERPARAMETER_PREFIX}optim.d.lr")
                     if m.step > exploit["step"]]
            assert exploit["step"] == 400 or exploit["new"]["optim.d.lr"] in after  # what the trial went on with
    assert "Lineage: PBT's exploits" in (tmp_path / "reports" / "pbt.html").read_text()
