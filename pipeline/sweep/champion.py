"""The sweep's champion: the report's #1 trial, its ranked checkpoint registered as a model version
with the alias `champion`, and its latent maps drawn for the report.

    register_best_trial(spec, sweep)    # by the driver, once Tune has finished
"""

from __future__ import annotations

import sys

import pandas as pd

from pipeline.core.gan import checkpoint_to_generator
from pipeline.core.latent import latent_pictures
from pipeline.spec import metric_names as names
from pipeline.spec.config import SweepSpec
from pipeline.stats.ranking import (
    BEST,
    BEST_STEP,
    UNUSABLE,
    add_ranking_values,
    rank_trials,
    rank_with_replicates,
    trial_status,
)
from pipeline.tracking.keys import LATENT_FOLDER, TRIAL_ID_TAG
from pipeline.tracking.location import SweepRun
from pipeline.tracking.metric_history import metric_histories
from pipeline.tracking.outputs import CHAMPION_ALIAS, latest_generator_model, log_generator_model
from pipeline.tracking.run_queries import search
from pipeline.tracking.sweep_runs import log_sweep_pictures, register_best
from pipeline.tracking.trial_runs import download_checkpoint


def rank_sweep(sweep: SweepRun, metric: str, mode: str, min_modes: int | None) -> pd.DataFrame:
    """The trials of one sweep read from MLflow (the ranking metric's history only, in bulk) and ranked."""
    trials = search(sweep.client(), sweep.experiment_id, f"tags.mlflow.parentRunId = '{sweep.run_id}'")
    if trials.empty:
        return rank_trials(trials, metric, mode, min_modes)
    histories = metric_histories(sweep.tracking_uri, list(trials["run_id"]), [metric])
    return rank_with_replicates(add_ranking_values(trials, histories, metric, mode), metric, mode, min_modes)[0]


def register_best_trial(spec: SweepSpec, sweep: SweepRun) -> None:
    """The report's #1 trial (the one ranking: `pipeline.stats.ranking`) becomes a version of the
    registered model named after the sweep; its ranked checkpoint is read once, for the model and the maps."""
    ranked = rank_sweep(sweep, spec.primary_metric, spec.primary_mode, spec.search.min_modes)
    usable = [row for _, row in ranked.iterrows() if pd.notna(row.get(BEST)) and trial_status(row) not in UNUSABLE]
    if not usable:
        print(f"No trial reported {spec.primary_metric} without diverging or erroring: no model registered.",
              file=sys.stderr)
        return
    best = usable[0]
    covered = best.get(f"metrics.{names.MODES}")
    if spec.search.min_modes is not None and not covered >= spec.search.min_modes:
        print(f"No trial covered search.min_modes={spec.search.min_modes} modes: registering the best of all "
              f"by {spec.primary_metric}.", file=sys.stderr)
    name, trial_id, value = sweep.experiment_name, best[f"tags.{TRIAL_ID_TAG}"], float(best[BEST])
    checkpoint = download_checkpoint(sweep, trial_id)  # checkpoint/best.pt, None if it logged none
    ensure_generator_model(sweep, best["run_id"], checkpoint)
    try:
        step = int(best[BEST_STEP]) if pd.notna(best.get(BEST_STEP)) else None
        version = register_best(sweep, name, best["run_id"], spec.primary_metric, value, step)
    except LookupError as err:  # the trials' results stand: the report is still written
        print(f"error: no model registered: {err}", file=sys.stderr)
        return
    print(f"Registered model {name!r} version {version} (alias {CHAMPION_ALIAS!r}): trial {trial_id} "
          f"(run {best['run_name']}), its checkpoint at step {step}, {spec.primary_metric} {value:.4g}")
    draw_latent_maps(sweep, trial_id, checkpoint)


def ensure_generator_model(sweep: SweepRun, run_id: str, checkpoint: dict | None) -> None:
    """A trial that ranks first but was stopped (ASHA) logged no generator model: log it here from its
    ranked checkpoint, so the registered version is one mlflow.pytorch.load_model can load."""
    if latest_generator_model(sweep.client(), sweep.experiment_id, run_id) is not None:
        return
    if checkpoint is None:
        return  # register_best says that there is nothing to register
    generator, config = checkpoint_to_generator(checkpoint)
    log_generator_model(sweep.tracking_uri, run_id, generator, config.model.latent_dim, int(checkpoint["step"]))


def draw_latent_maps(sweep: SweepRun, trial_id: str, checkpoint: dict | None) -> None:
    """The best generator's latent plane and interpolation, from its ranked checkpoint, for the report."""
    if checkpoint is None:
        print(f"Trial {trial_id} logged no checkpoint: no latent maps.", file=sys.stderr)
        return
    log_sweep_pictures(sweep, latent_pictures(checkpoint), LATENT_FOLDER)
