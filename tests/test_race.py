"""A race as a user runs it (search.seeds {min, max}): four ring8 configurations, one that diverges and
one with learning rates too small to learn. Every round's decision is recomputed here from MLflow's
metric histories with scipy; the registered champion is the checkpoint that was ranked; bad input
exits 2 before Ray starts."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import defaultdict

import mlflow
import numpy as np
import pytest
import torch
from scipy import stats

from pipeline.core.train import EVAL_NOISE_SEED
from pipeline.spec import metric_names as names
from pipeline.tracking.keys import CONFIG_TAG, REPLICATE_TAG, STATUS_TAG
from pipeline.tracking.sweep_runs import read_race
from pipeline.tracking.trial_runs import RANKED_ARTIFACT

from .conftest import SEARCH_SPACES, run_sweep, trial_runs

GOOD = ("0.001", "0.002")  # D's learning rates that learn the ring
RACE = [
    "metric=fid", "mode=min", "search.min_modes=null", "search.max_concurrent=2",
    "parameters={optim.d.lr: {grid: [1.0e-3, 2.0e-3, 1.0e-7, 100.0]}, "
    "optim.g.lr: {grid: [1.0e-7], when: {optim.d.lr: [1.0e-7]}}}",  # 100 diverges; 1e-7 for both learns nothing
    "trial.train.steps=200", "trial.train.eval_every=50", "trial.eval.samples=500",
    # 3 seeds first: with 2, a paired t-test has one degree of freedom and needs t > 12.7 to drop at 5%
    "search.seeds={min: 3, max: 4}",
]
SAMPLES, LATENT = 500, 16  # trial.eval.samples above; ring8.yaml's model.latent_dim


@pytest.fixture(scope="module")
def race(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("race")
    client, result = run_sweep(workdir, "ring8.yaml", *RACE)
    parent = next(r for r in client.search_runs([client.get_experiment_by_name("ring8").experiment_id])
                  if r.data.tags.get("sweep.role") == "parent")
    return workdir, client, result, parent, read_race(client, parent.info.run_id)


def best_fid(client, run) -> float | None:
    """A trial's value in the race: its best fid over the run; None where it diverged or errored."""
    if run.data.tags[STATUS_TAG] in ("diverged", "errored"):
        return None
    return min(m.value for m in client.get_metric_history(run.info.run_id, names.FID))


def holm(p_values: list[float]) -> list[float]:
    order, adjusted, running = np.argsort(p_values), [0.0] * len(p_values), 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


@pytest.mark.e2e
def test_the_race_drops_the_bad_two_after_min_seeds_and_seeds_the_contenders(race):
    _, client, result, _, record = race
    by_lr = {point["optim.d.lr"]: config for config, point in record["points"].items()}
    first = record["rounds"][0]
    assert first["seeds"] == 3
    assert set(first["dropped"]) == {by_lr[1e-7], by_lr[100.0]}
    assert first["dropped"][by_lr[100.0]] == "every seed diverged or errored"
    seeds = defaultdict(set)
    for run in trial_runs(client, "ring8"):
        seeds[run.data.tags[CONFIG_TAG]].add(int(run.data.tags[REPLICATE_TAG]))
    assert seeds[by_lr[1e-7]] == seeds[by_lr[100.0]] == {0, 1, 2}  # dropped: no fourth seed
    assert seeds[by_lr[1e-3]] == seeds[by_lr[2e-3]] == {0, 1, 2, 3}  # contenders: one more each
    summary = record["summary"]
    assert summary["trials_run"] == 14 and summary["trials_without_racing"] == 16
    assert "Race round 1 (3 seeds)" in result.stdout


@pytest.mark.e2e
def test_every_decision_recomputes_from_the_metric_histories(race):
    _, client, _, _, record = race
    values: dict[str, dict[int, float | None]] = defaultdict(dict)
    for run in trial_runs(client, "ring8"):
        values[run.data.tags[CONFIG_TAG]][int(run.data.tags[REPLICATE_TAG])] = best_fid(client, run)
    contenders = list(record["points"])
    for decision in record["rounds"]:
        seeds = range(decision["seeds"])
        usable = {c: {s: values[c][s] for s in seeds if values[c][s] is not None} for c in contenders}
        dropped = {c for c in contenders if not usable[c]}
        alive = [c for c in contenders if c not in dropped]
        best = min(alive, key=lambda c: np.mean(list(usable[c].values())))
        assert decision["best"] == best
        others = [c for c in alive if c != best]
        tests = [stats.ttest_rel([usable[c][s] for s in seeds], [usable[best][s] for s in seeds],
                                 alternative="greater") for c in others]
        adjusted = holm([t.pvalue for t in tests])
        logged = {t["config"]: t for t in decision["tests"]}
        for config, test, p_holm in zip(others, tests, adjusted, strict=True):
            assert logged[config]["p_worse"] == pytest.approx(test.pvalue, rel=1e-9, abs=1e-12)
            assert logged[config]["p_worse_holm"] == pytest.approx(p_holm, rel=1e-9, abs=1e-12)
            if p_holm < 0.05:
                dropped.add(config)
        assert set(decision["dropped"]) == dropped
        contenders = [c for c in alive if c not in dropped]
        assert decision["kept"] == contenders


@pytest.mark.e2e
def test_the_champion_is_the_checkpoint_that_was_ranked(race, tmp_path):
    workdir, client, _, _, _ = race
    mlflow.set_tracking_uri(f"sqlite:///{workdir / 'ml.db'}")
    version = client.get_model_version_by_alias("ring8", "champion")
    champion = client.get_run(version.run_id)
    history = client.get_metric_history(version.run_id, names.FID)
    ranked = min(history, key=lambda m: (m.value, m.step))
    assert version.tags["step"] == str(ranked.step) and float(version.tags[names.FID]) == pytest.approx(ranked.value)
    generator = mlflow.pytorch.load_model("models:/ring8@champion")
    noise = torch.randn(SAMPLES, LATENT, generator=torch.Generator().manual_seed(EVAL_NOISE_SEED))
    with torch.no_grad():
        np.save(tmp_path / "champion.npy", generator(noise).numpy())
    scored = subprocess.run([sys.executable, "-m", "pipeline.evaluate", "--dataset", "ring8", "--samples",
                             str(tmp_path / "champion.npy"), "--n", str(SAMPLES), "--json"],
                            capture_output=True, text=True, timeout=300, check=True)
    assert json.loads(scored.stdout)[names.FID] == pytest.approx(ranked.value, rel=1e-6)
    assert champion.data.tags[STATUS_TAG] == "finished"
    # every trial whose last evaluation is not its best logged the best one as its ranked checkpoint
    later_than_best = 0
    for run in trial_runs(client, "ring8"):
        if run.data.tags[STATUS_TAG] != "finished":
            continue
        fid = client.get_metric_history(run.info.run_id, names.FID)
        best = min(fid, key=lambda m: (m.value, m.step))
        checkpoint = torch.load(client.download_artifacts(run.info.run_id, RANKED_ARTIFACT, str(tmp_path)),
                                weights_only=False)
        assert checkpoint["step"] == best.step and checkpoint["ranked"]["value"] == pytest.approx(best.value)
        later_than_best += best.step != max(m.step for m in fid)
    assert later_than_best > 0  # the case this guards: a last evaluation worse than the best


@pytest.mark.e2e
def test_the_report_shows_the_race(race):
    workdir, *_ = race
    html = (workdir / "reports" / "ring8.html").read_text()
    assert '<table id="race">' in html
    assert re.search(r"14 trials ran instead of\s+16 \(every configuration at the most seeds\): 12%", html)
    assert "dropped in round 1: every seed diverged or errored" in html


@pytest.mark.parametrize(("override", "key"), [
    ("scheduler={name: pbt, mutations: {optim.d.lr: {log_uniform: [1.0e-4, 1.0e-2]}}}", "scheduler.name"),
    ("scheduler={name: asha}", "scheduler.name"),
    ("search.seeds={min: 4, max: 3}", "search.seeds"),
    ("search.seeds={min: 1, max: 3}", "search.seeds.min"),
    ("search.seeds={min: 2, max: 3, rounds: 2}", "search.seeds.rounds"),
    ("search.delta=0", "search.delta"),
    ("search.max_trials=3", "search.max_trials"),
    ("search.num_samples=2", "search.num_samples"),
])
def test_a_race_that_cannot_work_exits_2_before_ray_naming_the_file_and_key(override, key):
    result = subprocess.run([sys.executable, "-m", "pipeline.sweep", str(SEARCH_SPACES / "ring8.yaml"),
                             "--set", "search.seeds={min: 2, max: 4}", "--set", override, "--dry-run"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"ring8.yaml: {key}: " in result.stderr


def test_optuna_races_each_configuration_it_proposes_against_the_incumbent():
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    from pipeline.spec.loading import load_spec
    from pipeline.stats.intensify import Intensification
    from pipeline.sweep.racing import IntensifySearch
    from pipeline.sweep.space import param_space

    spec = load_spec(SEARCH_SPACES / "ring8.yaml", ["search.algorithm=optuna", "search.seeds={min: 2, max: 3}",
                                                  "search.num_samples=3", "search.min_modes=null",
                                                  "parameters={optim.d.lr: {log_uniform: [1.0e-4, 1.0e-2]}}"])
    storage, records = optuna.storages.InMemoryStorage(), []
    race = Intensification(2, 3, spec.primary_mode)
    searcher = IntensifySearch(OptunaSearch(study_name="s", storage=storage), race, 3, spec.primary_metric,
                               records.append)
    searcher.set_search_properties(spec.primary_metric, spec.primary_mode, param_space(spec))
    metric = spec.primary_metric  # hq_fraction: larger is better
    first = [searcher.suggest(f"t{i}") for i in range(2)]
    assert [c["replicate"] for c in first] == [0, 1] and first[0]["params"] == first[1]["params"]
    searcher.on_trial_complete("t0", {metric: 0.50})
    searcher.on_trial_complete("t1", {metric: 0.52})  # the first configuration becomes the incumbent
    study = optuna.load_study(study_name="s", storage=storage)
    assert study.trials[0].state == optuna.trial.TrialState.RUNNING  # not told while it is the incumbent
    challenger = [searcher.suggest(f"t{i}") for i in (2, 3)]
    assert [c["replicate"] for c in challenger] == [0, 1] and challenger[0]["params"] != first[0]["params"]
    searcher.on_trial_complete("t2", {metric: 0.10})
    searcher.on_trial_complete("t3", {metric: 0.12})  # worse on both shared seeds: rejected, Optuna told
    assert study.trials[1].value == pytest.approx(0.11)
    assert records[-1]["rounds"][-1]["dropped"]
    assert searcher.suggest("t4")["replicate"] == 0  # the third and last configuration
    record = searcher.end("every trial ran")
    assert study.trials[0].value == pytest.approx(0.51)  # the incumbent is told at the end
    assert record["summary"]["trials_run"] == 4


@pytest.mark.e2e
def test_the_readmes_champion_example_runs_on_the_races_model(race, monkeypatch):
    """README's Python lines for the registered model, pointed at this sweep's store and model."""
    workdir, *_ = race
    readme = (SEARCH_SPACES.parent / "README.md").read_text()
    load = re.search(r"`(mlflow\.set_tracking_uri\(\"sqlite:///mlflow\.db\"\); G = mlflow\.pytorch\.load_model"
                     r"\(\"models:/dropout@champion\"\))`", readme)[1]
    sample = re.search(r"then `(G\(torch\.randn\(16, 32\)\))` gives 16 digits", readme)[1]
    monkeypatch.chdir(workdir)  # the README's store is ./mlflow.db; this sweep's is ./ml.db
    namespace = {"mlflow": mlflow, "torch": torch}
    exec(load.replace("mlflow.db", "ml.db").replace("dropout@", "ring8@"), namespace)
    samples = eval(sample.replace("32", str(LATENT)), namespace)  # ring8's latent_dim for dropout.yaml's 32
    assert samples.shape == (16, 2) and torch.isfinite(samples).all()
