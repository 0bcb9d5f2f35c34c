"""A report over a conditional space where the condition held for no trial: the key was never logged, and
the report still ranks, draws and weighs the keys that were (CI found the sweep dying on its report here)."""

import torch

from pipeline.report.load import load_sweep
from pipeline.report.render import render_html
from pipeline.spec import metric_names as names
from pipeline.tracking.sweep_runs import open_sweep
from pipeline.tracking.trial_run import TrialRun

from .conftest import SEARCH_SPACES, tiny_spec


def test_a_conditional_key_no_trial_took_is_reported_as_not_applied(store_uri):
    spec = tiny_spec("optimizer")  # optim.d.momentum applies only where optim.d.name is rmsprop or sgd
    assert "optim.d.momentum" in spec.parameters
    sweep = open_sweep(spec, str(SEARCH_SPACES / "optimizer.yaml"), store_uri)
    for i, (name, fid) in enumerate([("adam", 3.0), ("adamw", 5.0), ("adam", 2.5), ("adamw", 6.0)]):
        run = TrialRun(sweep, f"t{i}", f"trial-{i}", {"optim.d.name": name})  # no momentum: adam's trials
        run.log_evaluation(100, {names.FID: fid, names.MODES: 8.0}, {})
        run.log_generator(torch.nn.Linear(4, 2), latent_dim=4, step=100)
        run.finish("finished")
    data = load_sweep(spec.name, sweep.tracking_uri)
    assert data.trials["params.optim.d.momentum"].isna().all()
    html = render_html(data)
    assert "optim.d.momentum" in html and "trial-2" in html
