"""Conditional parameters (`when:`): the points of grid and random search, Optuna's define-by-run
space and the checks that name the key (tests/test_menu.py runs a conditional Optuna sweep and
checks its MLflow params)."""


import pytest

from pipeline.spec.conditions import draw_points, expand_grid
from pipeline.spec.config import ConfigError
from pipeline.spec.loading import load_spec
from pipeline.sweep.searchers import search_algorithm
from pipeline.sweep.space import PARAMS_KEY, param_space

from .conftest import SEARCH_SPACES, sweep_cli

SGD_MOMENTUM = ["parameters.optim.d.momentum={uniform: [0.0, 0.95], when: {optim.d.name: sgd}}"]


def optimizer_spec(*overrides: str):
    # optimizer.yaml races its configurations: these tests look at the points, one seed each
    return load_spec(SEARCH_SPACES / "optimizer.yaml", ["search.seeds=1", "search.max_trials=null", *overrides])


def test_a_grid_expands_each_key_only_where_it_applies():
    points = expand_grid(optimizer_spec().parameters)
    assert points[:2] == [{"optim.d.name": "adam"}, {"optim.d.name": "adamw"}]
    assert points[2:] == [{"optim.d.name": name, "optim.d.momentum": m} for name in ("rmsprop", "sgd")
                          for m in (0.0, 0.9)]


def test_random_points_are_seeded_and_leave_inactive_keys_out():
    spec = optimizer_spec("search.algorithm=random", "search.num_samples=40", "search.seed=3",
                          "parameters.optim.d.name={choice: [adam, sgd]}", *SGD_MOMENTUM)
    points = draw_points(spec.parameters, 40, 3)
    assert points == draw_points(spec.parameters, 40, 3) != draw_points(spec.parameters, 40, 4)
    assert {p["optim.d.name"] for p in points} == {"adam", "sgd"}
    for point in points:
        assert ("optim.d.momentum" in point) == (point["optim.d.name"] == "sgd")
        assert 0.0 <= point.get("optim.d.momentum", 0.0) <= 0.95
    assert param_space(spec)[PARAMS_KEY]["grid_search"] == points  # Tune runs exactly these


def test_optuna_draws_a_conditional_space_by_run():
    spec = optimizer_spec("search.algorithm=optuna", "search.num_samples=12", "search.seed=0",
                          "parameters.optim.d.name={choice: [adam, sgd]}", *SGD_MOMENTUM)
    searcher = search_algorithm(spec)
    searcher.set_search_properties(spec.primary_metric, spec.primary_mode, param_space(spec))
    names = set()
    for number in range(12):
        params = searcher.suggest(f"t{number}")[PARAMS_KEY]
        names.add(params["optim.d.name"])
        assert ("optim.d.momentum" in params) == (params["optim.d.name"] == "sgd"), params
        searcher.on_trial_complete(f"t{number}", {"fid": float(number), "training_iteration": 1})
    assert names == {"adam", "sgd"}


@pytest.mark.parametrize(
    ("overrides", "key", "fragment"),
    [
        (["parameters.optim.d.momentum.when={train.loss: hinge}"], "parameters.optim.d.momentum.when",
         "train.loss is not a swept parameter"),
        (["parameters.optim.d.momentum.when={optim.d.name: nadam}"], "parameters.optim.d.momentum.when.optim.d.name",
         "['nadam'] not among"),
        (["parameters.optim.d.name.when={optim.d.momentum: 0.9}"], "parameters.optim.d.name.when",
         "a cycle of conditions: optim.d.name -> optim.d.momentum -> optim.d.name"),
        (["parameters.optim.d.lr={grid: [1.0e-4, 1.0e-3], when: {optim.d.momentum: 0.9}}",
          "parameters.optim.d.momentum.when={optim.d.name: sgd}", "parameters.optim.d.name.grid=[adam]"],
         "parameters.optim.d.momentum.when.optim.d.name", "not among"),
        (["parameters.optim.d.lr={grid: [1.0e-4, 1.0e-3], when: {optim.d.momentum: 0.9, optim.d.name: rmsprop}}",
          "parameters.optim.d.momentum.when={optim.d.name: sgd}"], "parameters.optim.d.lr.when",
         "conditions conflict"),
        (["search.algorithm=random", "parameters.optim.d.name={uniform: [0.0, 1.0]}"], "parameters.optim.d.name",
         None),
        (["search.algorithm=random", "parameters.optim.d.lr={uniform: [1.0e-4, 1.0e-3]}",
          "parameters.optim.d.momentum.when={optim.d.lr: 1.0e-4}"], "parameters.optim.d.momentum.when",
         "drawn from uniform"),
    ],
)
def test_bad_conditions_name_the_key(overrides, key, fragment):
    with pytest.raises(ConfigError) as info:
        optimizer_spec(*overrides)
    assert info.value.key == key and (fragment is None or fragment in info.value.message), info.value


def test_dry_run_shows_no_momentum_for_adam():
    result = sweep_cli(str(SEARCH_SPACES / "optimizer.yaml"), "--dry-run")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "12 to 18 trials (grid search):" in lines  # 6 configurations, raced from 2 seeds each
    assert "    1. optim.d.name=adam" in lines and "    6. optim.d.name=sgd,optim.d.momentum=0.9" in lines
    assert not [line for line in lines if "adam" in line and "momentum" in line]
