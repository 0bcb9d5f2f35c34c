"""Seed replicates (search.seeds): each configuration trained with k seeds, each seed its own trial and
MLflow run; the report groups them with mean and 95% interval; the registered model is the report's #1."""

import re
from collections import defaultdict

import pandas as pd
import pytest
from scipy import stats

from pipeline.spec import metric_names as names
from pipeline.spec.loading import load_spec
from pipeline.stats.ranking import rank_configurations, values_to_interval, verdict
from pipeline.sweep.searchers import Replicates
from pipeline.sweep.space import PARAMS_KEY, REPLICATE_KEY, param_space, tune_num_samples
from pipeline.tracking.keys import CONFIG_TAG, REPLICATE_TAG

from .conftest import SEARCH_SPACES, run_sweep, sweep_cli, trial_runs


@pytest.mark.parametrize(("override", "key", "fragment"), [
    ("search.seeds=0", "search.seeds", "at least 1"),
    ("scheduler={name: pbt, mutations: {optim.d.lr: {log_uniform: [1.0e-4, 1.0e-2]}}}", "search.seeds",
     "pbt copies one trial's state into another"),
    ("parameters={train.seed: {grid: [0, 1]}}", "parameters.train.seed", "sets each replicate's train.seed"),
])
def test_replicates_that_cannot_work_exit_2_naming_the_key(override, key, fragment):
    result = sweep_cli(str(SEARCH_SPACES / "ring8.yaml"), "--set", "search.seeds=3", "--set", override, "--dry-run")
    assert result.returncode == 2
    assert f"ring8.yaml: {key}: " in result.stderr and fragment in result.stderr


def test_dry_run_counts_every_replicate():
    result = sweep_cli(str(SEARCH_SPACES / "dropout.yaml"), "--set", "search.seeds=4", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "8 trials (grid search):" in result.stdout and "with 4 seeds (train.seed 0..3)" in result.stdout


def test_t_interval_is_scipys():
    values = pd.Series([1.0, 2.0, 4.0])
    mean, sd, low, high = values_to_interval(values)
    interval = stats.t.interval(0.95, 2, loc=values.mean(), scale=values.std() / 3**0.5)
    assert (mean, sd) == pytest.approx((7 / 3, values.std()))
    assert (low, high) == pytest.approx(interval)


def test_configurations_carry_their_gap_to_the_best_and_one_seed_says_so():
    trials = pd.DataFrame({
        "run_id": list("abcdefghi"), f"tags.{CONFIG_TAG}": list("xxxyyyzzz"), f"tags.{REPLICATE_TAG}": list("012" * 3),
        "status": ["FINISHED"] * 9, "best": [1.0, 1.1, 1.2, 1.15, 1.05, 1.4, 5.0, 5.1, 5.2], "rank": range(1, 10),
    })
    configs = rank_configurations(trials, "min")
    assert configs["config_id"].tolist() == ["x", "y", "z"]
    paired = stats.ttest_rel([1.15, 1.05, 1.4], [1.0, 1.1, 1.2])
    assert configs.loc[1, "gap.gap"] == pytest.approx(0.1) and configs.loc[1, "gap.test"] == "paired t"
    assert configs.loc[1, "gap.p_differ"] == pytest.approx(paired.pvalue)
    assert configs.loc[1, "gap.p_differ_holm"] == pytest.approx(paired.pvalue)  # Holm: the larger of two p, times 1
    assert verdict(configs, 3, "fid").startswith("Unresolved: 1 configuration(s) cannot be told from #1")
    assert verdict(configs.iloc[[0, 2]], 3, "fid").startswith("Configuration #1 is the winner")
    assert "cannot be told from seed noise" in verdict(configs, 1, "fid")


@pytest.mark.e2e
def test_a_ring8_sweep_with_three_seeds_groups_its_six_trials(tmp_path):
    client, result = run_sweep(tmp_path, "ring8.yaml", "trial.train.steps=40", "trial.train.eval_every=20",
                               "trial.eval.samples=200", "search.seeds=3", "search.max_concurrent=2",
                               "parameters={model.dropout: {grid: [0.0, 0.3]}}")
    runs = trial_runs(client, "ring8")
    assert len(runs) == 6
    groups = defaultdict(list)
    for run in runs:
        groups[run.data.tags[CONFIG_TAG]].append(run)
    assert len(groups) == 2
    means = {}
    for members in groups.values():
        assert sorted(int(r.data.tags[REPLICATE_TAG]) for r in members) == [0, 1, 2]
        assert sorted(r.data.params["train.seed"] for r in members) == ["0", "1", "2"]
        assert len({r.data.params["model.dropout"] for r in members}) == 1  # one configuration, three seeds
        best = [max(m.value for m in client.get_metric_history(r.info.run_id, names.HQ_FRACTION)) for r in members]
        means[members[0].data.params["model.dropout"]] = sum(best) / 3  # ring8 ranks on hq_fraction, max

    html = (tmp_path / "reports" / "ring8.html").read_text()
    rows = re.findall(r'<tr class="configuration">\s*<td>(\d)</td><td class="text">([\d.]+)</td>\s*'
                      r'<td data-value="([^"]*)">', html)
    assert [rank for rank, _, _ in rows] == ["1", "2"]
    for _, dropout, mean in rows:
        assert float(mean) == pytest.approx(means[dropout], abs=1e-9)
    assert means[rows[0][1]] >= means[rows[1][1]]  # best mean first (hq_fraction: max)

    [version] = client.search_model_versions("name = 'ring8'")
    first = next(run for run in runs if run.info.run_id == version.run_id)
    assert first.data.params["model.dropout"] == rows[0][1]  # the registered model is from the #1 configuration
    assert re.search(r"<td>1</td>\s*<td class=\"text\"><a href=\"#trial-(\w+)\">", html)[1] == version.run_id


def test_optuna_draws_a_configuration_once_and_learns_its_replicates_mean():
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    spec = load_spec(SEARCH_SPACES / "ring8.yaml", ["search.algorithm=optuna", "search.seeds=3",
                                                  "parameters={optim.d.lr: {log_uniform: [1.0e-4, 1.0e-2]}}"])
    storage = optuna.storages.InMemoryStorage()
    searcher = Replicates(OptunaSearch(study_name="s", storage=storage), 3, (spec.primary_metric,), spec.primary_mode)
    searcher.set_search_properties(spec.primary_metric, spec.primary_mode, param_space(spec))
    configs = [searcher.suggest(f"t{i}") for i in range(4)]
    assert [c[REPLICATE_KEY] for c in configs] == [0, 1, 2, 0]
    assert configs[0][PARAMS_KEY] == configs[1][PARAMS_KEY] == configs[2][PARAMS_KEY] != configs[3][PARAMS_KEY]
    searcher.on_trial_complete("t0", {spec.primary_metric: 0.2})
    searcher.on_trial_complete("t2", None, error=True)  # a crashed replicate is left out of the mean
    study = optuna.load_study(study_name="s", storage=storage)
    assert study.trials[0].state == optuna.trial.TrialState.RUNNING  # not told before the last replicate ends
    searcher.on_trial_complete("t1", {spec.primary_metric: 0.4})
    assert study.trials[0].value == pytest.approx(0.3)
    assert tune_num_samples(spec) == 3 * spec.search.num_samples  # one Tune trial per seed of a configuration
    assert tune_num_samples(load_spec(SEARCH_SPACES / "ring8.yaml", ["search.seeds=3"])) == 1  # the grid has them
