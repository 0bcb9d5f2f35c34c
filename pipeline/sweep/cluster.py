"""The Ray cluster as a sweep needs it: GPUs, whether a trial fits its nodes (or waits for them), how
many trials run at once, and how long a trial's worker group may take to start.

    nodes, growing = wait_for_capacity(TrialDemand(2, 1.0, 0.0), options)   # in `python -m pipeline.sweep`
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import ray

from pipeline.spec.config import ConfigError, SweepSpec
from pipeline.sweep.capacity import TrialDemand, demand_keys, trials_at_once, unmet_demand

CAPACITY_POLL_S = 10  # --wait-for-resources: how often to look for new nodes
START_RETRIES = 2  # a worker group that timed out starting (Ray's 60 s) tries again this often, then errors


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


def start_limits(options: SweepOptions, growing: bool) -> tuple[float | None, int]:
    """(seconds a trial's worker group may take to start, restarts of that start): where the cluster
    holds the trials, start-up waits only on a lost node; an autoscaling one may take its time."""
    if options.wait_for_resources:
        return options.wait_for_resources, 0
    return None, (-1 if growing else START_RETRIES)
