"""One ranking everywhere: the registered model is the report's #1, an early stop names what stopped it, and
Tune's progress table shows the ranking metric."""

import re

import mlflow
import mlflow.pytorch
import pandas as pd
import torch
from mlflow.tracking import MlflowClient

from pipeline.core.data import load_dataset
from pipeline.core.gan import build_state, state_to_checkpoint
from pipeline.report.load import load_sweep
from pipeline.report.render import render_html
from pipeline.spec import metric_names as names
from pipeline.spec.loading import load_spec
from pipeline.sweep.champion import register_best_trial
from pipeline.sweep.endings import stopped_by
from pipeline.sweep.trial import RayReporter
from pipeline.tracking.sweep_runs import open_sweep
from pipeline.tracking.trial_run import TrialRun
from pipeline.tracking.trial_runs import CHECKPOINT_ARTIFACT, RANKED_ARTIFACT, close_run

from .conftest import SEARCH_SPACES, tiny_spec


def log_trial(sweep, trial_id: str, fids: list[float], status: str) -> str:
    run = TrialRun(sweep, trial_id, f"trial-{trial_id}", {"model.dropout": trial_id})
    for i, fid in enumerate(fids):
        run.log_evaluation(100 * (i + 1), {names.FID: fid, names.MODES: 10.0}, {})
    run.log_generator(torch.nn.Linear(4, 2), latent_dim=4, step=100 * len(fids))  # a stand-in generator
    run.finish(status)
    return run.run_id


def test_the_registered_model_is_the_reports_first_when_last_and_best_disagree(store_uri, capsys):
    spec = tiny_spec("dropout")  # ranks on fid, min
    sweep = open_sweep(spec, str(SEARCH_SPACES / "dropout.yaml"), store_uri)
    best_early = log_trial(sweep, "t1", [5.0, 1.0, 9.0], "finished")  # best 1.0, last 9.0
    log_trial(sweep, "t2", [6.0, 4.0, 2.0], "finished")  # best and last 2.0: first by last values
    diverged = log_trial(sweep, "t3", [0.5], "diverged")  # the lowest fid, but its generator blew up
    register_best_trial(spec, sweep)
    client = MlflowClient(sweep.tracking_uri)
    [version] = client.search_model_versions(f"name='{spec.name}'")
    assert version.run_id == best_early
    assert client.get_model_version_by_alias(spec.name, "champion").run_id == best_early
    assert "trial t1 (run trial-t1), its checkpoint at step" in capsys.readouterr().out

    html = render_html(load_sweep(spec.name, sweep.tracking_uri))
    leaderboard = re.findall(r'<td>(\d+)</td>\s*<td class="text"><a href="#trial-(\w+)">', html)
    assert leaderboard == [("1", best_early), ("2", leaderboard[1][1]), ("3", diverged)]


def test_an_early_stop_is_blamed_on_what_stopped_it():
    # ASHA and the collapse rule (stop_collapsed_after) both set
    spec = load_spec(SEARCH_SPACES / "full.yaml", ["search.seeds=1", "search.max_trials=null", "scheduler.name=asha"])
    patience = spec.search.stop_collapsed_after
    collapsed = pd.DataFrame({names.MODES: [5.0] + [1.0] * patience})
    pruned = pd.DataFrame({names.MODES: [5.0] + [1.0] * (patience - 1) + [4.0]})
    assert stopped_by(spec, collapsed) == f"the collapse rule (modes <= 1 for {patience} evaluations)"
    assert stopped_by(spec, pruned) == "the asha scheduler"
    assert stopped_by(spec, None) == "the asha scheduler"


def test_tunes_progress_table_leads_with_the_ranking_metric_and_modes():
    sent = []
    reporter = RayReporter(None, {}, lambda result, folder: sent.append(result), leading=(names.FID, names.MODES))
    reporter.report(100, {names.LOSS_D: 0.7, names.LOSS_G: 1.2, names.D_ACC_REAL: 0.5, names.MODES: 9.0,
                          names.FID: 30.0}, {}, None)
    assert list(sent[0])[:2] == [names.FID, names.MODES]  # Tune's table shows a result's first 4 metrics
    assert sent[0][names.STEP] == 100 and sent[0][names.LOSS_G] == 1.2


def test_a_stopped_first_trial_gets_its_generator_model_from_the_driver(store_uri, tmp_path):
    """Stopped trials log no model (Tune gives their thread 2 s); when one ranks first, the driver logs
    it from the checkpoint, registers it as the champion, and leaves the run's status as it was."""
    spec = tiny_spec("ring8")  # ranks on hq_fraction, max, among trials covering 8 modes
    sweep = open_sweep(spec, str(SEARCH_SPACES / "ring8.yaml"), store_uri)
    dataset = load_dataset(spec.trial.dataset)
    state = build_state(spec.trial, dataset, torch.device("cpu"))
    run = TrialRun(sweep, "s1", "trial-s1", {"model.dropout": 0.0})
    run.log_evaluation(100, {names.HQ_FRACTION: 0.9, names.MODES: 8.0}, {})
    checkpoint = state_to_checkpoint(state, spec.trial, dataset.sample_shape)
    run.log_checkpoint(checkpoint, CHECKPOINT_ARTIFACT)  # as end_run logs a stopped trial's two checkpoints
    run.log_checkpoint(checkpoint | {"ranked": {"step": 100, "value": 0.9}}, RANKED_ARTIFACT)
    run.end()  # a stopped trial's own end: no status (the driver writes why it stopped)
    client = MlflowClient(sweep.tracking_uri)
    close_run(client, run.run_id, "stopped", "stopped by the asha scheduler")
    register_best_trial(spec, sweep)
    version = client.get_model_version_by_alias(spec.name, "champion")
    assert version.run_id == run.run_id
    assert client.get_run(run.run_id).info.status == "KILLED"  # stopped, as it was
    mlflow.set_tracking_uri(sweep.tracking_uri)
    try:
        generator = mlflow.pytorch.load_model(f"models:/{spec.name}@champion")
    finally:
        mlflow.set_tracking_uri(None)
    assert generator(torch.randn(3, spec.trial.model.latent_dim)).shape == (3, 2)
