"""The sweep's driver side: shared assets, the MLflow parent run, the Ray Tune Tuner, the report.

`python -m pipeline.sweep` parses the command line and calls `run_sweep`; this module holds the
Ray and MLflow wiring, so that a `--dry-run` or a bad file never imports or starts either.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import ray
from mlflow.exceptions import MlflowException
from ray import tune

from pipeline import metric_names as names
from pipeline.config import SweepSpec
from pipeline.data import load_dataset
from pipeline.latent import latent_pictures
from pipeline.metrics.classifier import TrainedClassifier, cached_classifier
from pipeline.metrics.evaluator import digit_source, needs_classifier
from pipeline.multi_worker import DRIVER_CPUS, run_multi_worker_trial
from pipeline.run_keys import LATENT_FOLDER
from pipeline.search_space import evaluations, param_space, scheduler, search_algorithm, stopper
from pipeline.tracking import (
    SweepRun,
    check_reachable,
    close_sweep,
    download_checkpoint,
    log_floor,
    log_sweep_pictures,
    mark_stopped,
    open_sweep,
    record_results_dir,
    register_best,
    reopen_sweep,
    resolve_tracking_uri,
)
from pipeline.train import build_evaluator
from pipeline.trial import DIVERGED_KEY, TrialSetup, run_trial

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


def prepare_classifiers(spec: SweepSpec) -> dict[str, TrainedClassifier]:
    """Train (or load from cache) each image dataset's feature network once, in the driver."""
    dataset = load_dataset(spec.trial.dataset)
    return {dataset.name: cached_classifier(digit_source(dataset))} if needs_classifier(dataset) else {}


def real_floor(spec: SweepSpec, classifiers: dict[str, TrainedClassifier]) -> dict[str, float]:
    dataset = load_dataset(spec.trial.dataset)
    return build_evaluator(spec.trial.eval, dataset, classifiers.get(dataset.name)).real_floor()


def gpus_per_trial(spec: SweepSpec, require_gpu: bool) -> float:
    """The spec's GPU request, or 0 with a warning where the cluster has no GPU."""
    wanted = spec.resources.gpus_per_worker
    if wanted == 0 or ray.cluster_resources().get("GPU", 0) > 0:
        return wanted
    if require_gpu:
        raise SystemExit(f"error: the spec asks for {wanted} GPU per worker, the Ray cluster has none (--require-gpu)")
    print(f"warning: the spec asks for {wanted} GPU per worker but the Ray cluster has no GPU: running on CPU",
          file=sys.stderr)
    return 0.0


def warn_if_trials_cannot_fit(setup: TrialSetup) -> None:
    """A trial asking for more than the cluster has waits for nodes to join (an autoscaler), or forever."""
    need = setup.workers * setup.cpus + (DRIVER_CPUS if setup.workers > 1 else 0)
    have = ray.cluster_resources().get("CPU", 0)
    if need > have:
        print(f"warning: one trial needs {need:g} CPUs ({setup.workers} worker(s) x {setup.cpus:g}"
              f"{' + the Tune trial driving them' if setup.workers > 1 else ''}), the Ray cluster has {have:g}: "
              "trials wait until nodes join", file=sys.stderr, flush=True)


def tune_run_name(spec: SweepSpec, sweep: SweepRun) -> str:
    return f"{spec.name}-{sweep.run_id[:8]}"


def trainable_for(setup: TrialSetup):
    """Single-worker trials hold their resources themselves; a multi-worker trial's Train run asks for its
    workers' resources, and the Tune trial that drives it takes a sliver of a CPU."""
    if setup.workers > 1:
        return tune.with_resources(tune.with_parameters(run_multi_worker_trial, setup=setup), {"cpu": DRIVER_CPUS})
    return tune.with_resources(tune.with_parameters(run_trial, setup=setup), {"cpu": setup.cpus, "gpu": setup.gpus})


def build_tuner(spec: SweepSpec, setup: TrialSetup, storage_path: str) -> tune.Tuner:
    return tune.Tuner(
        trainable_for(setup),
        param_space=param_space(spec),
        tune_config=tune.TuneConfig(
            metric=spec.metric,
            mode=spec.mode,
            num_samples=spec.search.num_samples,
            search_alg=search_algorithm(spec),
            reuse_actors=spec.resources.reuse_actors,
            scheduler=scheduler(spec),  # concurrency: the variant generator caps it (search_space.py)
        ),
        run_config=tune.RunConfig(
            name=tune_run_name(spec, setup.sweep),
            storage_path=storage_path,
            checkpoint_config=tune.CheckpointConfig(
                num_to_keep=None if spec.scheduler.name == "pbt" else CHECKPOINTS_KEPT
            ),
            stop=stopper(spec),
            failure_config=tune.FailureConfig(max_failures=spec.resources.max_failures),
        ),
    )


def close_stopped_trials(spec: SweepSpec, sweep: SweepRun, results: tune.ResultGrid) -> None:
    """Trials that ASHA or the collapse rule stopped never reach their own end: give their runs one."""
    planned = evaluations(spec)
    for result in results:
        done = result.metrics.get("training_iteration", 0) if result.metrics else 0
        if result.error is None and result.metrics and done < planned:
            by = "the collapse rule (modes <= 1)" if spec.search.stop_collapsed_after else f"{spec.scheduler.name}"
            mark_stopped(sweep, result.metrics["trial_id"], f"stopped by {by} after {done} of {planned} evaluations")
        elif result.error is None and result.metrics:  # all evaluations done; Tune may end it before its own close
            mark_stopped(sweep, result.metrics["trial_id"], "", status="finished")


def register_best_trial(spec: SweepSpec, sweep: SweepRun, results: tune.ResultGrid) -> None:
    """The best trial's generator becomes a version of the registered model named after the sweep."""
    ranked = [r for r in results if r.metrics and spec.metric in r.metrics and not r.metrics.get(DIVERGED_KEY)]
    enough = [r for r in ranked if r.metrics.get(names.MODES, 0) >= (spec.search.min_modes or 0)]
    if not ranked:
        print(f"No trial reported {spec.metric}: no model registered.", file=sys.stderr)
        return
    if not enough:
        print(f"No trial covered search.min_modes={spec.search.min_modes} modes: registering the best of all "
              f"by {spec.metric}.", file=sys.stderr)
    pick = min if spec.mode == "min" else max
    best = pick(enough or ranked, key=lambda result: result.metrics[spec.metric])
    name = sweep.experiment_name
    version = register_best(sweep, name, best.metrics["trial_id"], spec.metric, best.metrics[spec.metric])
    if version is not None:
        print(f"Registered model {name!r} version {version}: trial {best.metrics['trial_id']}, "
              f"{spec.metric} {best.metrics[spec.metric]:.4g}")
    draw_latent_maps(sweep, best.metrics["trial_id"])


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
    except (ConnectionError, LookupError, MlflowException) as err:
        raise SystemExit(f"error: cannot resume: {err}") from err
    if not tune.Tuner.can_restore(results_dir):
        raise SystemExit(f"error: cannot resume: {results_dir} holds no Tune experiment to restore")
    return sweep, results_dir


def open_tracking(spec: SweepSpec, options: SweepOptions) -> SweepRun:
    uri = resolve_tracking_uri(options.tracking_uri)
    try:
        check_reachable(uri)
    except ConnectionError as err:
        raise SystemExit(f"error: {err}") from err
    try:
        return open_sweep(spec, options.spec_path, uri, options.experiment)
    except Exception as err:  # any failure here means no trial could log: stop before Ray starts
        raise SystemExit(f"error: cannot open the MLflow tracking store {uri}: {type(err).__name__}: {err}") from err


def run_sweep(spec: SweepSpec, options: SweepOptions) -> int:
    if options.resume is not None:
        sweep, results_dir = resume_tracking(spec, options)
    else:
        sweep = open_tracking(spec, options)
        results_dir = f"{options.storage_path.rstrip('/')}/{tune_run_name(spec, sweep)}"
    where = f"experiment {sweep.experiment_name!r}, parent run {sweep.run_id}"
    print(f"MLflow: {'resuming ' if options.resume else ''}{where} at {sweep.tracking_uri}", flush=True)
    failed = True
    try:
        classifiers = prepare_classifiers(spec)
        if options.resume is None:
            record_results_dir(sweep, results_dir)
            log_floor(sweep, real_floor(spec, classifiers))
        ray.init(address=options.address)
        setup = TrialSetup(
            trial=spec.trial.model_dump(),
            sweep=sweep,
            classifiers=classifiers,
            cpus=spec.resources.cpus_per_worker,
            gpus=gpus_per_trial(spec, options.require_gpu),
            metric=spec.metric,
            mode=spec.mode,
            mutable=tuple(spec.scheduler.mutations),
            workers=spec.resources.workers_per_trial,
            results_dir=results_dir,
            max_failures=spec.resources.max_failures,
        )
        warn_if_trials_cannot_fit(setup)
        if options.resume is not None:  # finished trials stay finished; the others go on from their checkpoints
            tuner = tune.Tuner.restore(results_dir, trainable_for(setup), resume_unfinished=True, resume_errored=True)
        else:
            tuner = build_tuner(spec, setup, options.storage_path)
        results = tuner.fit()
        close_stopped_trials(spec, sweep, results)
        register_best_trial(spec, sweep, results)
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
