"""Names of the MLflow tags and params that tie a sweep's runs together, and of a trial's values in
Tune's config; written by the driver and the trials, read by report/ and sync.py. Ray-free, so the
offline tools (report, sync) can name things as the sweep did."""

from typing import Any

ROLE_TAG = "sweep.role"  # "parent" or "trial"
ROLE_PARENT, ROLE_TRIAL = "parent", "trial"
METRIC_TAG = "sweep.metric"  # the spec's ranking metric, on the parent run
MODE_TAG = "sweep.mode"  # min | max
OBJECTIVES_TAG = "sweep.objectives"  # JSON [[metric, mode], ...]: several for a multi-objective sweep
SWEPT_PARAM = "sweep.swept"  # JSON list of the swept dotted keys, on the parent run
STATUS_TAG = "trial.status"  # finished | diverged | errored (by the trial) | stopped (by the driver), on each trial run
REASON_TAG = "trial.reason"  # why a trial diverged, errored or was stopped
ATTEMPT_TAG = "trial.attempt"  # the attempt (one process's life of a trial) that owns the run: the latest to open it
STALE_FOLDER = "stale"  # on a trial run: <attempt>.json, the calls an attempt held back once a later one owned the run
END_REASON_TAG = "sweep.end_reason"  # why the sweep ended: every trial ran, search.target, the time budget
RESULTS_DIR_TAG = "sweep.results_dir"  # where Ray Tune keeps the sweep's results and checkpoints
NODE_TAG = "ray.node_id"  # the Ray node a trial (last) ran on
NODE_IP_TAG = "ray.node_ip"  # that node's address: which host it was
TRIAL_ID_TAG = "tune.trial_id"  # the Ray Tune trial a child run belongs to: a restored trial finds its run
HYPERPARAMETER_PREFIX = "hp."  # pbt: the mutated values at each evaluation, as metrics (params cannot change)
LINEAGE_FOLDER = "lineage"  # pbt, pb2: on a trial run, exploit-<step>.json for each checkpoint it took from another
LATENT_FOLDER = "latent"  # the best trial's latent maps on the parent run: latent/plane.png, latent/interpolation.png
VALUES_TAG = "sweep.values"  # JSON of a trial's swept values, typed: what --extend and warm starts read back
CONFIG_TAG = "sweep.config_id"  # the sampled configuration a trial trains: its seed replicates share it
REPLICATE_TAG = "sweep.replicate"  # which of its configuration's seeds a trial is (0, 1, ...)
EXTENSIONS_TAG = "sweep.extensions"  # on the parent run: how many times --extend added trials to it
SEEDS_PARAM = "search.seeds"  # on the parent run: replicates per configuration
PARAMS_KEY = "params"  # Tune's config key of a trial's sampled values (a flat dict of dotted keys)
REPLICATE_KEY = "replicate"  # which seed of its configuration a trial trains: train.seed + this


def trial_name(values: dict[str, Any]) -> str:
    """'model.dropout=0.2,optim.d.lr=0.001': names MLflow child runs and report rows."""
    return ",".join(f"{key}={format_value(value)}" for key, value in values.items())


def format_value(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
