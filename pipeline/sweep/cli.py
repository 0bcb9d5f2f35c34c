"""Run a sweep: a search-space file -> Ray Tune trials -> MLflow runs -> an HTML report.

    python -m pipeline.sweep search_spaces/dropout.yaml
    python -m pipeline.sweep search_spaces/ring8.yaml --set trial.train.steps=300 --dry-run
    python -m pipeline.sweep search_spaces/ring8.yaml --address auto --tracking-uri http://mlflow-host:5000

Exit status: 0 when every trial ran (finished or diverged), 1 when a trial errored or the tracking
store is unreachable, 2 for a bad search-space file or option (before Ray starts) or a trial that
the machine or cluster can never hold (before any trial starts).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.errors import PipelineError
from pipeline.spec.config import ConfigError, SweepSpec
from pipeline.spec.loading import load_spec

if TYPE_CHECKING:  # torch is imported only where the data is loaded: --help and bad files stay fast
    from pipeline.core.data import GanDataset


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.sweep",
        description="Run a GAN hyperparameter sweep on Ray Tune from a search-space YAML file, track every "
        "trial in MLflow (one parent run per sweep, one child run per trial) and write reports/NAME.html.",
    )
    parser.add_argument("spec", help="search-space YAML file, e.g. search_spaces/dropout.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override any key of the file, value parsed as YAML: --set trial.train.steps=200 "
                        "--set parameters.model.dropout.grid=[0.0,0.5] (repeatable)")
    parser.add_argument("--tracking-uri", default=None,
                        help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db here)")
    parser.add_argument("--experiment", default=None,
                        help="MLflow experiment for the sweep's runs (default: the spec's name)")
    parser.add_argument("--address", default=None,
                        help="Ray cluster to join: 'auto' or HOST:PORT (default: start a local Ray)")
    parser.add_argument("--storage-path", default="ray_results",
                        help="where Tune keeps trial checkpoints: a folder, NFS path or s3:// URI "
                        "(default: ./ray_results)")
    parser.add_argument("--report-dir", default="reports", help="folder for NAME.html (default: ./reports)")
    parser.add_argument("--resume", nargs="?", const="latest", default=None, metavar="PARENT_RUN_ID",
                        help="continue an interrupted sweep (the newest of the spec's experiment, or this parent "
                        "run) under the same MLflow run: finished trials are not run again")
    parser.add_argument("--extend", nargs="?", const="latest", default=None, metavar="PARENT_RUN_ID",
                        help="add trials to a finished sweep (the newest of the spec's experiment, or this parent "
                        "run) under the same MLflow run: random search draws search.num_samples new points, "
                        "optuna runs search.num_samples more trials knowing the earlier ones, grid search runs "
                        "the points of the grid that no trial ran yet; the report then covers them all")
    parser.add_argument("--wait-for-resources", type=non_negative_seconds, default=0.0, metavar="SECONDS",
                        help="with --address: wait this long for nodes added by hand when one trial needs more than "
                        "the cluster has (default: stop at once, unless the cluster has an autoscaler); a trial "
                        "whose workers cannot start for longer errors")
    parser.add_argument("--require-gpu", action="store_true",
                        help="fail instead of falling back to CPU when the spec asks for GPUs and the cluster has none")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the resolved trials (grid) or the search space, and exit without starting Ray")
    args = parser.parse_args(argv)
    if args.extend is not None and args.resume is not None:
        parser.error("--extend and --resume do different things: finish an interrupted sweep first with --resume")
    if args.wait_for_resources and args.address is None:
        parser.error("--wait-for-resources needs --address: no node can join the local Ray a sweep starts itself")
    return args


def non_negative_seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not seconds >= 0:
        raise argparse.ArgumentTypeError(f"{text} must be 0 or more seconds")
    return seconds


def objectives_text(spec: SweepSpec) -> str:
    """'fid (min)', or 'fid (min), recall (max): a Pareto front' for several metrics."""
    text = ", ".join(f"{metric} ({mode})" for metric, mode in spec.objectives)
    return text + (": a Pareto front, the first metric ranks" if len(spec.objectives) > 1 else "")


def print_plan(spec: SweepSpec) -> None:
    from pipeline.sweep.space import describe_space

    print(f"Sweep {spec.name!r}: ranking on {objectives_text(spec)}, scheduler {spec.scheduler.name}")
    for line in describe_space(spec):
        print(line)
    r = spec.resources
    print(f"Each trial: {r.workers_per_trial} worker(s) x ({r.cpus_per_worker} CPU, {r.gpus_per_worker} GPU); "
          f"at most {spec.search.max_concurrent} at once")


def check_against_data(spec: SweepSpec, source: str) -> GanDataset:
    """What the file alone cannot tell: the evaluation must leave real data for the reference set, and
    search.min_modes must be a number of modes the data has."""
    from pipeline.core.data import DatasetError, load_dataset
    from pipeline.core.metrics.evaluator import max_eval_samples

    try:
        dataset = load_dataset(spec.trial.dataset)
    except DatasetError as err:
        raise ConfigError(source, "trial.dataset", str(err)) from None
    wanted = spec.search.min_modes
    if wanted is not None and wanted > dataset.num_modes:
        has = f"has {dataset.num_modes} modes" if dataset.has_modes else "has no known modes to count"
        raise ConfigError(source, "search.min_modes", f"{wanted}, but {spec.trial.dataset.name} {has}")
    limit, reason = max_eval_samples(dataset)
    if spec.trial.eval.samples > limit:
        raise ConfigError(source, "trial.eval.samples", f"at most {limit} for {spec.trial.dataset.name} ({reason})")
    return dataset  # the driver trains on it: the data is read (or downloaded) once


def local_machine_problem(spec: SweepSpec, source: str) -> ConfigError | None:
    """A sweep that starts its own Ray has this machine and nothing more: a trial that needs more
    would wait forever for nodes that cannot join."""
    import torch

    from pipeline.sweep.capacity import TrialDemand, demand_keys, local_nodes, unmet_demand

    gpus = torch.cuda.device_count()  # none: GPU requests fall back to CPU (see --require-gpu)
    r = spec.resources
    demand = TrialDemand(r.workers_per_trial, r.cpus_per_worker, r.gpus_per_worker if gpus else 0.0)
    problem = unmet_demand(demand, local_nodes(gpus))
    if problem is None:
        return None
    return ConfigError(source, demand_keys(demand), f"{problem} (this machine, in the local Ray the sweep starts "
                       "itself; --address joins a larger cluster)")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        spec = load_spec(args.spec, args.overrides)
        dataset = check_against_data(spec, args.spec)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print_plan(spec)
    unfit = local_machine_problem(spec, args.spec) if args.address is None else None
    if args.dry_run:
        if unfit is not None:  # what a run here would refuse, said without refusing the plan
            print(f"note: a sweep on this machine would stop here: {unfit}")
        return 0
    if unfit is not None:
        print(f"error: {unfit}", file=sys.stderr)
        return 2
    from pipeline.sweep.cluster import SweepOptions
    from pipeline.sweep.driver import run_sweep

    options = SweepOptions(
        spec_path=args.spec,
        tracking_uri=args.tracking_uri,
        address=args.address,
        storage_path=args.storage_path if "://" in args.storage_path else str(Path(args.storage_path).resolve()),
        report_dir=Path(args.report_dir),
        require_gpu=args.require_gpu,
        experiment=args.experiment,
        resume=args.resume,
        extend=args.extend,
        wait_for_resources=args.wait_for_resources,
    )
    try:
        return run_sweep(spec, options, dataset)
    except PipelineError as err:  # a trial the cluster can never hold (2), a store that does not answer (1), ...
        print(f"error: {err}", file=sys.stderr)
        return err.exit_status

