"""The sweep's driver side: shared assets, the MLflow parent run, the Ray Tune Tuner, the report.

`python -m pipeline.sweep` parses the command line and calls `run_sweep`; this module holds the
Ray and MLflow wiring, so that a `--dry-run` or a bad file never imports or starts either.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from pathlib import Path

import ray
from mlflow.entities import DatasetInput
from mlflow.exceptions import MlflowException
from ray import tune
from ray.tune.search import ConcurrencyLimiter, Searcher

from pipeline.core.data import GanDataset
from pipeline.core.metrics.classifier import TrainedClassifier, cached_classifier
from pipeline.core.metrics.evaluator import Evaluator, digit_source, needs_classifier, needs_inception
from pipeline.core.metrics.inception import fid_inception_weights
from pipeline.core.train import build_evaluator, scored_view
from pipeline.errors import NothingToResume, TrackingUnavailable
from pipeline.spec.config import POPULATION_SCHEDULERS, SweepSpec
from pipeline.sweep.capacity import DRIVER_CPUS, TrialDemand
from pipeline.sweep.champion import register_best_trial
from pipeline.sweep.cluster import SweepOptions, gpus_per_trial, start_limits, trials_in_parallel, wait_for_capacity
from pipeline.sweep.endings import RunCloser, sweep_end_reason
from pipeline.sweep.growth import Extension, plan_extension, reopen_for_extension, warm_started
from pipeline.sweep.history import NO_HISTORY, History
from pipeline.sweep.multi_worker import run_multi_worker_trial
from pipeline.sweep.progress import ConsoleProgress
from pipeline.sweep.racing import SeedRacer, race_searcher
from pipeline.sweep.searchers import search_algorithm
from pipeline.sweep.space import listed_points, param_space, scheduler, tune_num_samples
from pipeline.sweep.stoppers import combined, stoppers
from pipeline.sweep.trial import TrialSetup, run_trial
from pipeline.tracking.location import SweepRun, check_reachable, resolve_tracking_uri
from pipeline.tracking.outputs import dataset_input
from pipeline.tracking.sweep_runs import (
    close_sweep,
    log_floor,
    log_race,
    open_sweep,
    record_end_reason,
    record_results_dir,
    reopen_sweep,
)
from pipeline.tracking.trial_run import TRIAL_HTTP_SETTINGS

CHECKPOINTS_KEPT = 2  # the latest for restore, one before it in case the latest is half-written
# PBT exploits the checkpoints that the top trials reported at earlier perturbations: Tune must not
# delete them under it, so a PBT sweep keeps every checkpoint.


# Set in every trial process (Ray's runtime_env): when Tune stops a trial (ASHA, PBT's pause) it reuses
# the actor only if the trial's thread ends within TUNE_FUNCTION_THREAD_TIMEOUT_S, 2 s by default. A
# stopped trial still uploads its checkpoints and its last system metrics; on 2 busy cores
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


def prepare_classifiers(spec: SweepSpec, dataset: GanDataset) -> dict[str, TrainedClassifier]:
    """Train (or load from cache) the data's classifier once, in the driver, where its metrics use one."""
    scored = scored_view(spec.trial.eval, dataset)
    return {dataset.name: cached_classifier(digit_source(scored))} if needs_classifier(scored) else {}


def log_real_floor(sweep: SweepRun, spec: SweepSpec, evaluator: Evaluator) -> None:
    """The floor (real points the feature network never saw) and its spread over real sets of n."""
    spread = evaluator.floor_spread()
    source = f"{spec.trial.eval.samples} {evaluator.parts.origin}"
    log_floor(sweep, evaluator.real_floor(), source, spread.sd, spread.method, evaluation_protocol(spec, evaluator))


def evaluation_protocol(spec: SweepSpec, evaluator: Evaluator) -> str:
    """The evaluator's protocol, with the Inception weights' file and SHA-256 where they score the data."""
    if not needs_inception(evaluator.dataset):
        return evaluator.protocol()
    weights = fid_inception_weights(spec.trial.eval.inception_weights)
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    return f"{evaluator.protocol()}; Inception weights {weights.name}, sha256 {digest[:16]}"


def shipped_weights(evaluator: Evaluator) -> dict | None:
    """The FID Inception weights the driver's evaluator holds, for the trials; None in other feature spaces."""
    return evaluator.extractor.network_state() if needs_inception(evaluator.dataset) else None


def tune_run_name(spec: SweepSpec, sweep: SweepRun) -> str:
    return f"{spec.name}-{sweep.run_id[:8]}"


def trainable_for(setup: TrialSetup):
    """Single-worker trials hold their resources themselves; a multi-worker trial's Train run asks for its
    workers' resources, and the Tune trial that drives it takes a sliver of a CPU."""
    if setup.workers > 1:
        return tune.with_resources(tune.with_parameters(run_multi_worker_trial, setup=setup), {"cpu": DRIVER_CPUS})
    return tune.with_resources(tune.with_parameters(run_trial, setup=setup), {"cpu": setup.cpus, "gpu": setup.gpus})


def tune_searcher(spec: SweepSpec, sweep: SweepRun, max_concurrent: int, history: History) -> Searcher:
    """The spec's searcher; a race logs each round's decision on the parent run as it is taken."""
    if spec.search.race is not None:
        points = [] if spec.search.algorithm == "optuna" else listed_points(spec, history)
        return race_searcher(spec, points, max_concurrent, lambda record: log_race(sweep, record), history)
    return search_algorithm(spec, max_concurrent, history)


def build_tuner(spec: SweepSpec, setup: TrialSetup, storage_path: str, searcher: Searcher,
                history: History = NO_HISTORY) -> tune.Tuner:
    """The sweep's Tuner; its callbacks print progress and close each stopped trial's run as Tune stops it."""
    return tune.Tuner(
        trainable_for(setup),
        param_space=param_space(spec, history),
        tune_config=tune.TuneConfig(
            metric=spec.primary_metric,  # optuna searches every objective (sweep/space.py)
            mode=spec.primary_mode,
            num_samples=tune_num_samples(spec, history),
            search_alg=searcher,
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
            verbose=0,  # Tune's reporter ends with a table of every trial: ConsoleProgress prints a summary
            callbacks=[ConsoleProgress(spec.primary_metric, spec.primary_mode, list(spec.parameters),
                                       setup.results_dir), RunCloser(spec, setup.sweep)],
        ),
    )


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


def run_sweep(spec: SweepSpec, options: SweepOptions, dataset: GanDataset) -> int:
    """The sweep of `spec` on `dataset`, its trial.dataset as the command line loaded and checked it."""
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
        classifiers = prepare_classifiers(spec, dataset)
        # the real side of every metric, once: the floor uses it here and every trial of these data and
        # eval settings receives it (an Inception pass over CIFAR-10's reference is minutes of GPU)
        evaluator = build_evaluator(spec.trial.eval, dataset, classifiers.get(dataset.name))
        if options.resume is None:
            record_results_dir(sweep, results_dir)
        if options.resume is None and options.extend is None:
            log_real_floor(sweep, spec, evaluator)
        start_timeout, start_retries = start_limits(options, growing)
        setup = TrialSetup(
            trial=spec.trial.model_dump(),
            sweep=sweep,
            classifiers=classifiers,
            cpus=r.cpus_per_worker,
            gpus=gpus,
            objectives=spec.objectives,
            dataset_input=training_input(spec, dataset),
            dataset=dataset,
            real=evaluator.real,
            inception=shipped_weights(evaluator),
            mutable=tuple(spec.scheduler.mutations),
            conditional=tuple(key for key, param in spec.parameters.items() if param.when),
            workers=r.workers_per_trial,
            seeds=spec.search.max_seeds,
            results_dir=results_dir,
            max_failures=r.max_failures,
            start_timeout_s=start_timeout,
            start_retries=start_retries,
        )
        searcher = None  # a resumed sweep's comes back inside Tune's own state
        if options.resume is not None:  # finished trials stay finished; the others go on from their checkpoints
            tuner = tune.Tuner.restore(results_dir, trainable_for(setup), resume_unfinished=True, resume_errored=True)
        else:
            searcher = tune_searcher(spec, sweep, trials_in_parallel(spec, demand, nodes, growing), history)
            tuner = build_tuner(spec, setup, options.storage_path, searcher, history)
        started = time.monotonic()
        results = tuner.fit()
        sweep_end = sweep_end_reason(spec, results, time.monotonic() - started)
        if isinstance(searcher, ConcurrencyLimiter) and isinstance(searcher.searcher, SeedRacer):
            log_race(sweep, searcher.searcher.end(sweep_end or "every trial ran"))  # its last word, however it ended
        record_end_reason(sweep, sweep_end or "every trial ran")
        print(f"\nThe sweep ended: {sweep_end or 'every trial ran'}.", flush=True)
        RunCloser(spec, sweep).close_rest(results, sweep_end)
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
