"""The sweep's driver side: shared assets, the MLflow parent run, the Ray Tune Tuner, the report.

`python -m pipeline.sweep` parses the command line and calls `run_sweep`; this module holds the
Ray and MLflow wiring, so that a `--dry-run` or a bad file never imports or starts either.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import ray
from mlflow.entities import DatasetInput
from mlflow.exceptions import MlflowException
from ray import tune

from pipeline.core.data import GanDataset, load_dataset
from pipeline.core.gan import checkpoint_to_generator
from pipeline.core.latent import latent_pictures
from pipeline.core.metrics.classifier import TrainedClassifier, cached_classifier
from pipeline.core.metrics.evaluator import digit_source, needs_classifier
from pipeline.core.train import build_evaluator
from pipeline.errors import NothingToResume, TrackingUnavailable
from pipeline.spec import metric_names as names
from pipeline.spec.config import POPULATION_SCHEDULERS, ConfigError, SweepSpec
from pipeline.sweep.capacity import DRIVER_CPUS, TrialDemand, demand_keys, trials_at_once, unmet_demand
from pipeline.sweep.endings import close_stopped_trials, sweep_end_reason
from pipeline.sweep.growth import Extension, plan_extension, reopen_for_extension, warm_started
from pipeline.sweep.history import History
from pipeline.sweep.multi_worker import run_multi_worker_trial
from pipeline.sweep.space import (
    NO_HISTORY,
    combined,
    param_space,
    scheduler,
    search_algorithm,
    stoppers,
    tune_num_samples,
)
from pipeline.sweep.trial import TrialSetup, run_trial
from pipeline.tracking.keys import (
    LATENT_FOLDER,
    TRIAL_ID_TAG,
)
from pipeline.tracking.location import SweepRun, check_reachable, resolve_tracking_uri
from pipeline.tracking.outputs import CHAMPION_ALIAS, dataset_input, latest_generator_model, log_generator_model
from pipeline.tracking.sweep_runs import (
    close_sweep,
    download_checkpoint,
    log_floor,
    log_sweep_pictures,
    open_sweep,
    record_end_reason,
    record_results_dir,
    register_best,
    reopen_sweep,
)
from pipeline.tracking.trial_run import TRIAL_HTTP_SETTINGS

CAPACITY_POLL_S = 10  # --wait-for-resources: how often to look for new nodes
START_RETRIES = 2  # a worker group that timed out starting (Ray's 60 s) tries again this often, then errors
CHECKPOINTS_KEPT = 2  # the latest for restore, one before it in case the latest is half-written
# PBT exploits the checkpoints that the top trials reported at earlier perturbations: Tune must not
# delete them under it, so a PBT sweep keeps every checkpoint.


@dataclass(frozen=True)
class SweepOptions:
    spec_path: str
    tracking_uri: str | None
    address: str | None
    storage_path: str
    report_dir: Path
    require_gpu: bool
    experiment: str | None = None  # MLflow experiment; the spec's name when None
    resume: str | None = None  # "latest" or a parent run id: continue that sweep instead of starting one
    extend: str | None = None  # "latest" or a parent run id: add trials to that finished sweep
    wait_for_resources: float = 0.0  # with address: seconds to wait for nodes when a trial does not fit


# Set in every trial process (Ray's runtime_env): when Tune stops a trial (ASHA, PBT's pause) it reuses
# the actor only if the trial's thread ends within TUNE_FUNCTION_THREAD_TIMEOUT_S, 2 s by default. A
# stopped trial still uploads its checkpoint, its last system metrics and its status; on 2 busy cores
# that took over 2 s and the next trial errored ("Trainable runner reuse requires reset_config()").
TRIAL_ENV = {"TUNE_FUNCTION_THREAD_TIMEOUT_S": "60"}


def trial_environment() -> dict[str, str]:
    """What Ray sets in every trial process: TRIAL_ENV, and MLflow's short HTTP retries for the trials'
    logging (TRIAL_HTTP_SETTINGS), where the user's own environment does not set them already."""
    return TRIAL_ENV | {key: os.environ.get(key, value) for key, value in TRIAL_HTTP_SETTINGS.items()}


def training_input(spec: SweepSpec, dataset: GanDataset) -> DatasetInput:
    """The trials' dataset as an MLflow run input, hashed once here rather than in every trial."""
    source = spec.trial.dataset.model_dump(exclude={"name"}, exclude_none=True)
    return dataset_input(dataset.name, source, dataset.points.numpy(), dataset.labels.numpy())


def prepare_classifiers(dataset: GanDataset) -> dict[str, TrainedClassifier]:
    """Train (or load from cache) each image dataset's feature network once, in the driver."""
    return {dataset.name: cached_classifier(digit_source(dataset))} if needs_classifier(dataset) else {}


def log_real_floor(sweep: SweepRun, spec: SweepSpec, dataset: GanDataset,
                   classifiers: dict[str, TrainedClassifier]) -> None:
    """The floor (real points the feature network never saw) and its spread over real sets of n."""
    evaluator = build_evaluator(spec.trial.eval, dataset, classifiers.get(dataset.name))
    spread = evaluator.floor_spread()
    source = f"{spec.trial.eval.samples} {evaluator.parts.origin}"
    log_floor(sweep, evaluator.real_floor(), source, spread.sd, spread.method)


def gpus_per_trial(spec: SweepSpec, spec_path: str, require_gpu: bool) -> float:
    """The spec's GPU request, or 0 with a warning where the cluster has no GPU."""
    wanted = spec.resources.gpus_per_worker
    if wanted == 0 or ray.cluster_resources().get("GPU", 0) > 0:
        return wanted
    if require_gpu:
        raise ConfigError(spec_path, "resources.gpus_per_worker",
                          f"the spec asks for {wanted} GPU per worker, the Ray cluster has none (--require-gpu)")
    print(f"warning: the spec asks for {wanted} GPU per worker but the Ray cluster has no GPU: running on CPU",
          file=sys.stderr)
    return 0.0


def cluster_nodes() -> list[dict[str, float]]:
    return [node["Resources"] for node in ray.nodes() if node["Alive"]]


def cluster_can_grow() -> bool:
    """Whether an autoscaler can add nodes: Ray's v2 autoscaler (KubeRay's), or a v1 autoscaler with
    node types of its own config. Without an autoscaling config Ray's monitor only mirrors the nodes
    that joined, naming their types node_<node id>. (Read from Ray's internal state: no public API says it.)"""
    from ray._private import ray_constants
    from ray.autoscaler.v2.utils import is_autoscaler_v2
    from ray.experimental.internal_kv import _internal_kv_get

    if is_autoscaler_v2(fetch_from_server=True):
        return True
    status = _internal_kv_get(ray_constants.DEBUG_AUTOSCALING_STATUS)
    report = json.loads(status).get("autoscaler_report") if status else None
    types = (report or {}).get("node_type_mapping") or {}
    return any(not name.startswith("node_") for name in types.values())


def wait_for_capacity(demand: TrialDemand, options: SweepOptions) -> tuple[list[dict[str, float]], bool]:
    """The cluster's nodes once one trial fits on them, and whether it can grow; a ConfigError naming the
    spec's resources when it never can (no autoscaler, and nobody added nodes within --wait-for-resources)."""
    nodes, growing = cluster_nodes(), options.address is not None and cluster_can_grow()
    problem = unmet_demand(demand, nodes)
    if problem and growing:
        print(f"warning: {problem} now: waiting for the cluster's autoscaler to add nodes", file=sys.stderr,
              flush=True)
        return nodes, growing
    deadline = time.monotonic() + options.wait_for_resources
    while problem and (left := deadline - time.monotonic()) > 0:
        print(f"Waiting {left:.0f} s more for nodes (--wait-for-resources): {problem}", flush=True)
        time.sleep(min(CAPACITY_POLL_S, left))
        nodes = cluster_nodes()
        problem = unmet_demand(demand, nodes)
    if problem:
        where = ("this machine, in the local Ray the sweep started itself" if options.address is None else
                 f"the Ray cluster at {options.address}, which has no autoscaler"
                 + (f", after {options.wait_for_resources:g} s of --wait-for-resources" if options.wait_for_resources
                    else "; --wait-for-resources SECONDS waits for nodes you add by hand"))
        raise ConfigError(options.spec_path, demand_keys(demand), f"{problem} ({where})")
    return nodes, growing


def trials_in_parallel(spec: SweepSpec, demand: TrialDemand, nodes: list[dict[str, float]], growing: bool) -> int:
    """At most as many multi-worker trials at once as the cluster holds: Tune reserves only the sliver
    of CPU of each trial's driver, so more trials would start than their worker groups can."""
    wanted = spec.search.max_concurrent
    if demand.workers == 1 or growing:
        return wanted
    fitting = trials_at_once(demand, nodes, wanted)
    if fitting < wanted:
        print(f"At most {fitting} trial(s) at once: the cluster holds the workers of {fitting} "
              f"(search.max_concurrent is {wanted})", flush=True)
    return fitting


def tune_run_name(spec: SweepSpec, sweep: SweepRun) -> str:
    return f"{spec.name}-{sweep.run_id[:8]}"


def start_limits(options: SweepOptions, growing: bool) -> tuple[float | None, int]:
    """(seconds a trial's worker group may take to start, restarts of that start): where the cluster
    holds the trials, start-up waits only on a lost node; an autoscaling one may take its time."""
    if options.wait_for_resources:
        return options.wait_for_resources, 0
    return None, (-1 if growing else START_RETRIES)


def trainable_for(setup: TrialSetup):
    """Single-worker trials hold their resources themselves; a multi-worker trial's Train run asks for its
    workers' resources, and the Tune trial that drives it takes a sliver of a CPU."""
    if setup.workers > 1:
        return tune.with_resources(tune.with_parameters(run_multi_worker_trial, setup=setup), {"cpu": DRIVER_CPUS})
    return tune.with_resources(tune.with_parameters(run_trial, setup=setup), {"cpu": setup.cpus, "gpu": setup.gpus})


def build_tuner(spec: SweepSpec, setup: TrialSetup, storage_path: str, max_concurrent: int,
                history: History = NO_HISTORY) -> tune.Tuner:
    return tune.Tuner(
        trainable_for(setup),
        param_space=param_space(spec, history),
        tune_config=tune.TuneConfig(
            metric=spec.primary_metric,  # optuna searches every objective (sweep/space.py)
            mode=spec.primary_mode,
            num_samples=tune_num_samples(spec, history),
            search_alg=search_algorithm(spec, max_concurrent, history),
            reuse_actors=spec.resources.reuse_actors,
            scheduler=scheduler(spec),  # concurrency: the variant generator caps it (sweep/space.py)
            time_budget_s=spec.search.time_budget_s,
        ),
        run_config=tune.RunConfig(
            name=Path(setup.results_dir).name,  # the sweep's own folder, or its extension's
            storage_path=storage_path,
            checkpoint_config=tune.CheckpointConfig(
                num_to_keep=None if spec.scheduler.name in POPULATION_SCHEDULERS else CHECKPOINTS_KEPT
            ),
            stop=combined(stoppers(spec)),
            failure_config=tune.FailureConfig(max_failures=spec.resources.max_failures),
        ),
    )


def register_best_trial(spec: SweepSpec, sweep: SweepRun) -> None:
    """The report's #1 trial (the one ranking: `pipeline.report.ranking`) becomes a version of the
    registered model named after the sweep."""
    from pipeline.report.ranking import BEST, UNUSABLE, rank_sweep, trial_status

    ranked = rank_sweep(sweep.client(), sweep.experiment_id, sweep.run_id, spec.primary_metric, spec.primary_mode,
                        spec.search.min_modes)
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
    ensure_generator_model(sweep, best["run_id"], trial_id)
    try:
        version = register_best(sweep, name, best["run_id"], spec.primary_metric, value)
    except LookupError as err:  # the trials' results stand: the report is still written
        print(f"error: no model registered: {err}", file=sys.stderr)
        return
    print(f"Registered model {name!r} version {version} (alias {CHAMPION_ALIAS!r}): trial {trial_id} "
          f"(run {best['run_name']}), best {spec.primary_metric} {value:.4g}")
    draw_latent_maps(sweep, trial_id)


def ensure_generator_model(sweep: SweepRun, run_id: str, trial_id: str) -> None:
    """A trial that ranks first but was stopped (ASHA) logged no generator model: log it here from its
    checkpoint, so the registered version is one mlflow.pytorch.load_model can load."""
    if latest_generator_model(sweep.client(), sweep.experiment_id, run_id) is not None:
        return
    checkpoint = download_checkpoint(sweep, trial_id)
    if checkpoint is None:
        return  # register_best says that there is nothing to register
    generator, config = checkpoint_to_generator(checkpoint)
    log_generator_model(sweep.tracking_uri, run_id, generator, config.model.latent_dim, int(checkpoint["step"]))


def draw_latent_maps(sweep: SweepRun, trial_id: str) -> None:
    """The best generator's latent plane and interpolation, from its logged checkpoint, for the report."""
    checkpoint = download_checkpoint(sweep, trial_id)
    if checkpoint is None:
        print(f"Trial {trial_id} logged no checkpoint: no latent maps.", file=sys.stderr)
        return
    log_sweep_pictures(sweep, latent_pictures(checkpoint), LATENT_FOLDER)


def resume_tracking(spec: SweepSpec, options: SweepOptions) -> tuple[SweepRun, str]:
    uri = resolve_tracking_uri(options.tracking_uri)
    try:
        check_reachable(uri)
        parent = None if options.resume == "latest" else options.resume
        sweep, results_dir = reopen_sweep(uri, options.experiment or spec.name, parent)
    except ConnectionError as err:
        raise TrackingUnavailable(f"cannot resume: {err}") from err
    except (LookupError, MlflowException) as err:
        raise NothingToResume(f"cannot resume: {err}") from err
    if not tune.Tuner.can_restore(results_dir):
        raise NothingToResume(f"cannot resume: {results_dir} holds no Tune experiment to restore")
    return sweep, results_dir


def check_tracking_reachable(options: SweepOptions) -> None:
    """A tracking server that does not answer stops the sweep before Ray starts."""
    try:
        check_reachable(resolve_tracking_uri(options.tracking_uri))
    except ConnectionError as err:
        raise TrackingUnavailable(str(err)) from err


def open_tracking(spec: SweepSpec, options: SweepOptions) -> SweepRun:
    uri = resolve_tracking_uri(options.tracking_uri)
    try:
        return open_sweep(spec, options.spec_path, uri, options.experiment)
    except Exception as err:  # any failure here means no trial could log: stop before Ray starts
        raise TrackingUnavailable(f"cannot open the MLflow tracking store {uri}: {type(err).__name__}: {err}") from err


def sweep_tracking(spec: SweepSpec, options: SweepOptions,
                   extension: Extension | None) -> tuple[SweepRun, str, History]:
    """The sweep's parent run (new, resumed or the planned extension's), its Tune results folder, and
    the trials that ran before this Tune run."""
    history, storage = NO_HISTORY, options.storage_path.rstrip("/")
    if options.resume is not None:
        sweep, results_dir = resume_tracking(spec, options)
        doing = "resuming "
    elif extension is not None:
        sweep, history = reopen_for_extension(extension), extension.history
        results_dir = f"{storage}/{tune_run_name(spec, sweep)}-extend{history.extension}"
        doing = f"extending (a {len(history.points) + history.skipped}-trial sweep) "
    else:
        sweep = open_tracking(spec, options)
        results_dir, doing = f"{storage}/{tune_run_name(spec, sweep)}", ""
    print(f"MLflow: {doing}experiment {sweep.experiment_name!r}, parent run {sweep.run_id} at {sweep.tracking_uri}",
          flush=True)
    return sweep, results_dir, history


def run_sweep(spec: SweepSpec, options: SweepOptions) -> int:
    check_tracking_reachable(options)
    # an extension the finished sweep cannot take is refused before Ray starts
    extension = None if options.extend is None else plan_extension(
        spec, options.tracking_uri, options.experiment, options.extend)
    ray.init(address=options.address, runtime_env={"env_vars": trial_environment()})
    gpus = gpus_per_trial(spec, options.spec_path, options.require_gpu)
    r = spec.resources
    demand = TrialDemand(r.workers_per_trial, r.cpus_per_worker, gpus)
    nodes, growing = wait_for_capacity(demand, options)  # before any MLflow run: a refused sweep leaves none
    sweep, results_dir, history = sweep_tracking(spec, options, extension)
    failed = True
    try:
        history = warm_started(spec, options.spec_path, sweep, history) if options.resume is None else history
        dataset = load_dataset(spec.trial.dataset)  # once: the classifier, the floor and the run input share it
        classifiers = prepare_classifiers(dataset)
        if options.resume is None:
            record_results_dir(sweep, results_dir)
        if options.resume is None and options.extend is None:
            log_real_floor(sweep, spec, dataset, classifiers)
        start_timeout, start_retries = start_limits(options, growing)
        setup = TrialSetup(
            trial=spec.trial.model_dump(),
            sweep=sweep,
            classifiers=classifiers,
            cpus=r.cpus_per_worker,
            gpus=gpus,
            objectives=spec.objectives,
            dataset_input=training_input(spec, dataset),
            mutable=tuple(spec.scheduler.mutations),
            conditional=tuple(key for key, param in spec.parameters.items() if param.when),
            workers=r.workers_per_trial,
            seeds=spec.search.seeds,
            results_dir=results_dir,
            max_failures=r.max_failures,
            start_timeout_s=start_timeout,
            start_retries=start_retries,
        )
        if options.resume is not None:  # finished trials stay finished; the others go on from their checkpoints
            tuner = tune.Tuner.restore(results_dir, trainable_for(setup), resume_unfinished=True, resume_errored=True)
        else:
            tuner = build_tuner(spec, setup, options.storage_path, trials_in_parallel(spec, demand, nodes, growing),
                                history)
        started = time.monotonic()
        results = tuner.fit()
        sweep_end = sweep_end_reason(spec, results, time.monotonic() - started)
        record_end_reason(sweep, sweep_end or "every trial ran")
        print(f"\nThe sweep ended: {sweep_end or 'every trial ran'}.", flush=True)
        close_stopped_trials(spec, sweep, results, sweep_end)
        register_best_trial(spec, sweep)
        errored = [result for result in results if result.error is not None]
        failed = bool(errored)
    finally:
        close_sweep(sweep, failed)
    report_path = write_sweep_report(spec, sweep, options.report_dir)
    print(f"\nReport: {report_path.resolve()}")
    print(f"Browse the runs: {browse_command(sweep.tracking_uri)}")
    if errored:
        print(f"{len(errored)} of {len(results)} trials errored; see the report and the MLflow runs.", file=sys.stderr)
        return 1
    return 0


def write_sweep_report(spec: SweepSpec, sweep: SweepRun, report_dir: Path) -> Path:
    from pipeline.report import write_report

    out = report_dir / f"{spec.name}.html"
    return write_report(sweep.experiment_name, sweep.tracking_uri, out, parent_run_id=sweep.run_id)


def browse_command(tracking_uri: str) -> str:
    if tracking_uri.startswith(("http://", "https://")):
        return f"open {tracking_uri}/#/experiments/"
    return f"mlflow ui --backend-store-uri {tracking_uri}"
