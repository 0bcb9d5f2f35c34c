"""Multi-objective sweeps (`metric: [fid, recall]`): Optuna searches both, the report draws the Pareto
front of configurations and lists the non-dominated ones, the registered model is the best on the first
metric among them; a bad metric list exits 2 before Ray starts."""

import itertools
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from pipeline.report.pareto import configuration_objectives, non_dominated
from pipeline.spec import metric_names as names
from pipeline.spec.loading import load_spec
from pipeline.sweep.searchers import ParetoSearch, Replicates, search_algorithm
from pipeline.sweep.space import param_space
from pipeline.tracking.keys import CONFIG_TAG, OBJECTIVES_TAG, ROLE_TAG, STATUS_TAG

from .conftest import SEARCH_SPACES, run_sweep, trial_runs

TWO_METRICS = ["metric=[fid, recall]", "mode=[min, max]"]


def dominated_by_brute_force(points: list[tuple[float, ...]], modes: list[str]) -> list[bool]:
    """The reference: a point is off the front if some other is no worse everywhere and better somewhere."""
    def better_or_equal(a, b, mode):
        return a <= b if mode == "min" else a >= b

    front = []
    for i, p in enumerate(points):
        beaten = any(all(better_or_equal(q[k], p[k], m) for k, m in enumerate(modes)) and q != p
                     for j, q in enumerate(points) if j != i)
        front.append(not beaten)
    return front


@pytest.mark.parametrize("modes", [["min", "max"], ["min", "min"], ["max", "min", "max"]])
def test_non_dominated_matches_a_brute_force_reference(modes):
    rng = np.random.default_rng(len(modes))
    values = rng.integers(0, 6, size=(40, len(modes))).astype(float)  # small integers: ties and duplicates
    expected = dominated_by_brute_force([tuple(row) for row in values], modes)
    assert non_dominated(values, modes).tolist() == expected
    with pytest.raises(ValueError, match="K x 2"):
        non_dominated(values[:, :1], ["min", "max"])


def test_configurations_are_replicate_means_and_unusable_trials_do_not_compete():
    trials = pd.DataFrame({
        "run_id": ["a1", "a2", "b1", "b2", "c1", "d1"],
        f"tags.{CONFIG_TAG}": ["a", "a", "b", "b", "c", "d"],
        f"tags.{STATUS_TAG}": ["finished"] * 4 + ["diverged", "finished"],
        f"metrics.{names.MODES}": [8, 8, 8, 8, 8, 8],
    })
    best = {"a1": (1.0, 0.5), "a2": (3.0, 0.7), "b1": (1.0, 0.9), "b2": (1.0, 0.9), "c1": (0.1, 1.0),
            "d1": (5.0, 0.8)}
    # each history's best differs from its last value, as in a GAN run
    histories = {run: pd.DataFrame({"step": [1, 2], names.FID: [fid, fid + 9], names.RECALL: [recall, recall - 0.4]})
                 for run, (fid, recall) in best.items()}
    configs = configuration_objectives(trials, histories, (("fid", "min"), ("recall", "max")))
    by_id = configs.set_index("config_id")
    assert by_id.loc["a", "mean.fid"] == pytest.approx(2.0) and by_id.loc["a", "mean.recall"] == pytest.approx(0.6)
    assert by_id.loc["a", "sd.fid"] == pytest.approx(np.std([1.0, 3.0], ddof=1))
    assert "c" not in by_id.index  # diverged: its fid 0.1 would otherwise dominate everything
    assert configs["config_id"].tolist() == ["b", "a", "d"] and configs["pareto"].tolist() == [True, False, False]


def test_optuna_is_told_every_metric_of_each_configuration():
    import optuna

    spec = load_spec(SEARCH_SPACES / "ring8.yaml", [*TWO_METRICS, "search.algorithm=optuna", "search.seeds=2",
                                                  "parameters={optim.d.lr: {log_uniform: [1.0e-4, 1.0e-2]}}"])
    limiter = search_algorithm(spec)
    replicates = limiter.searcher
    assert isinstance(replicates, Replicates) and isinstance(replicates.searcher, ParetoSearch)
    limiter.set_search_properties(spec.primary_metric, spec.primary_mode, param_space(spec))  # as Tune does
    first, second = limiter.suggest("t0"), limiter.suggest("t1")
    assert first["params"] == second["params"]
    limiter.on_trial_complete("t0", {"fid": 1.0, "recall": 0.2})
    limiter.on_trial_complete("t1", {"fid": 3.0, "recall": 0.6})
    study = replicates.searcher._ot_study
    assert [d.name for d in study.directions] == ["MINIMIZE", "MAXIMIZE"]
    [trial] = study.trials
    assert trial.state == optuna.trial.TrialState.COMPLETE and trial.values == pytest.approx([2.0, 0.4])


@pytest.mark.parametrize(("overrides", "key", "fragment"), [
    (["metric=[fid, recall]", "mode=min"], "mode", "1 mode(s) for the 2 metric(s) ['fid', 'recall']"),
    (["metric=[fid, recall]", "mode=[min, max, max]"], "mode", "3 mode(s) for the 2 metric(s)"),
    (["metric=[fid, sharpness]", "mode=[min, max]"], "metric", "'sharpness' is not a metric: one of fid, kid"),
    (["metric=[fid, fid]", "mode=[min, min]"], "metric", "lists a metric twice"),
])
def test_a_bad_metric_list_exits_2_before_ray_starts(tmp_path, overrides, key, fragment):
    command = [sys.executable, "-m", "pipeline.sweep", str(SEARCH_SPACES / "ring8.yaml"),
               "--tracking-uri", f"sqlite:///{tmp_path / 'ml.db'}"]
    for override in overrides:
        command += ["--set", override]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert f"ring8.yaml: {key}: {fragment}" in result.stderr
    assert not (tmp_path / "ml.db").exists() and "Ray" not in result.stdout + result.stderr


@pytest.mark.e2e
def test_a_two_metric_optuna_sweep_reports_its_pareto_front(tmp_path):
    client, result = run_sweep(tmp_path, "ring8.yaml", *TWO_METRICS, "trial.train.steps=200",
                               "trial.train.eval_every=100", "trial.eval.samples=300",
                               "search={algorithm: optuna, num_samples: 4, max_concurrent: 2, startup_trials: 2, "
                               "seed: 3}",
                               "parameters={optim.d.lr: {log_uniform: [1.0e-5, 3.0e-3]}}")
    assert "ranking on fid (min), recall (max): a Pareto front" in result.stdout
    runs = trial_runs(client, "ring8")
    assert len(runs) == 4
    [parent] = [r for r in client.search_runs([runs[0].info.experiment_id]) if r.data.tags[ROLE_TAG] == "parent"]
    assert parent.data.tags[OBJECTIVES_TAG] == '[["fid", "min"], ["recall", "max"]]'

    # the front, computed here from MLflow's histories (best over each run), apart from the report's code
    best = {r.info.run_id: (min(m.value for m in client.get_metric_history(r.info.run_id, names.FID)),
                            max(m.value for m in client.get_metric_history(r.info.run_id, names.RECALL)))
            for r in runs if r.data.tags[STATUS_TAG] == "finished"}  # the search section set here has no min_modes
    ids = list(best)
    front = {i for i, on in zip(ids, dominated_by_brute_force([best[i] for i in ids], ["min", "max"]), strict=True)
             if on}
    assert front

    html = (tmp_path / "reports" / "ring8.html").read_text()
    section = html.split("<h2>Trade-off: the Pareto front</h2>")[1].split("<h2>Leaderboard</h2>")[0]
    assert re.search(r'<img src="data:image/png;base64,[A-Za-z0-9+/=]{100,}" alt="Pareto front of fid and recall"',
                     section)
    listed = re.findall(r'<a href="#trial-(\w+)">trial</a>', section)
    assert set(listed) == front and len(listed) == len(front)
    assert f"{len(front)} configuration(s) are non-dominated" in section
    fids = [best[run_id][0] for run_id in listed]
    assert fids == sorted(fids)  # best first on the first metric

    [version] = client.search_model_versions("name = 'ring8'")
    assert version.run_id == listed[0]  # the best fid among the non-dominated
    assert re.search(r"<td>1</td>\s*<td class=\"text\"><a href=\"#trial-(\w+)\">", html)[1] == version.run_id
    assert all(a <= b for a, b in itertools.pairwise(fids))
