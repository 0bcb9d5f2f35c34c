"""The report stays a page at any number of trials: the top report.detail trials drawn in full, one
leaderboard row for every other, on synthetic runs logged straight to a local store (no Ray)."""

from __future__ import annotations

import numpy as np
import pytest
from mlflow.entities import Metric, RunTag
from mlflow.tracking import MlflowClient

from pipeline.report.render import write_report
from pipeline.spec import metric_names as names
from pipeline.spec.loading import load_spec
from pipeline.tracking.keys import ROLE_TAG, ROLE_TRIAL, STATUS_TAG
from pipeline.tracking.sweep_runs import open_sweep

from .conftest import SEARCH_SPACES

DETAIL = 4
STEPS = (100, 200)


def synthetic_sweep(tmp_path, trials: int) -> tuple[str, str]:
    """A ring8 sweep's parent run and `trials` finished trial runs, each with two evaluations and a sample grid."""
    spec = load_spec(SEARCH_SPACES / "ring8.yaml", [f"report.detail={DETAIL}", "search.min_modes=null"])
    uri = f"sqlite:///{tmp_path / 'ml.db'}"
    sweep = open_sweep(spec, str(SEARCH_SPACES / "ring8.yaml"), uri)
    client, rng = MlflowClient(uri), np.random.default_rng(0)
    for number in range(trials):
        run = client.create_run(sweep.experiment_id, run_name=f"trial {number}",
                                tags={"mlflow.parentRunId": sweep.run_id, ROLE_TAG: ROLE_TRIAL, STATUS_TAG: "finished"})
        run_id = run.info.run_id
        client.log_param(run_id, "optim.d.lr", float(rng.uniform(1e-4, 1e-2)))
        client.log_param(run_id, "model.dropout", 0.0)
        metrics = [Metric(key, float(rng.uniform()), 0, step) for step in STEPS
                   for key in (names.HQ_FRACTION, names.FID, names.MODES)]
        client.log_batch(run_id, metrics=metrics, tags=[RunTag("sweep.replicate", "0")])
        for step in STEPS:
            client.log_image(run_id, rng.integers(0, 255, (64, 64, 3), dtype=np.uint8), key=names.SAMPLES_IMAGE,
                             step=step)
        client.set_terminated(run_id)
    return uri, sweep.run_id


@pytest.mark.slow  # 300 runs logged and two reports built: a minute and more on 2 cores
def test_the_report_draws_the_top_k_in_full_and_grows_sublinearly_past_k(tmp_path):
    sizes = {}
    for trials in (DETAIL * 2, 300):
        folder = tmp_path / str(trials)
        folder.mkdir()
        uri, _ = synthetic_sweep(folder, trials)
        html = write_report("ring8", uri, folder / "ring8.html").read_text()
        assert html.count('<details class="trial"') == DETAIL
        assert html.count('class="text status-finished"') == trials  # every trial in the leaderboard
        assert f"the other\n  {trials - DETAIL} are one leaderboard row each" in html
        sizes[trials] = len(html)
    # past K each trial is a leaderboard row of text: a few KB, where a drawn trial's pictures take tens
    per_row = (sizes[300] - sizes[DETAIL * 2]) / (300 - DETAIL * 2)
    assert per_row < 3_000 and sizes[300] < 2 * sizes[DETAIL * 2], (per_row, sizes)
