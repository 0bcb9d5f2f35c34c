"""Whether one trial's resources can ever be granted: checked before any trial starts, so that a trial
asking for more than the machine (or the cluster) has fails at once with a setting that fits, instead
of waiting for nodes that will never join.

    from pipeline.sweep.capacity import TrialDemand, local_nodes, unmet_demand
    problem = unmet_demand(TrialDemand(workers=2, cpus=1.0, gpus=0.0), local_nodes())

No Ray here: the nodes are plain {resource: amount} dicts, read from `ray.nodes()` by the driver, or
from this machine for the local Ray that a sweep starts itself.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

DRIVER_CPUS = 0.1  # the Tune trial of a multi-worker trial only waits on its Train run
Node = dict[str, float]  # one node's total resources: {"CPU": 16, "GPU": 2}


@dataclass(frozen=True)
class TrialDemand:
    """What one trial asks for: `workers` bundles of (cpus, gpus), each on one node, and for a
    multi-worker trial the sliver of a CPU of the Tune trial that drives its Train run."""

    workers: int
    cpus: float
    gpus: float

    @property
    def driver_cpus(self) -> float:
        return DRIVER_CPUS if self.workers > 1 else 0.0

    def describe(self) -> str:
        cpus = f"{self.workers * self.cpus + self.driver_cpus:g} CPU"
        how = f"{self.workers} worker(s) x {self.cpus:g} CPU"
        if self.gpus:
            cpus += f" and {self.workers * self.gpus:g} GPU"
            how += f" and {self.gpus:g} GPU"
        if self.driver_cpus:
            how += f", + {self.driver_cpus:g} CPU for the Tune trial driving them"
        return f"{cpus} ({how})"


def worker_slots(node: Node, demand: TrialDemand, reserved_cpus: float = 0.0) -> int:
    """How many of the trial's worker bundles fit on one node, `reserved_cpus` of it taken."""
    cpu_slots = math.floor((node.get("CPU", 0.0) - reserved_cpus) / demand.cpus + 1e-9)
    gpu_slots = math.floor(node.get("GPU", 0.0) / demand.gpus + 1e-9) if demand.gpus else cpu_slots
    return max(0, min(cpu_slots, gpu_slots))


def place(demand: TrialDemand, nodes: list[Node]) -> list[Node] | None:
    """The nodes' resources left once one trial is placed (the driver on the first node with room, each
    worker bundle whole on a node, packed), or None where it cannot be placed."""
    left = [dict(node) for node in nodes]
    if demand.driver_cpus:
        host = next((node for node in left if node.get("CPU", 0.0) >= demand.driver_cpus), None)
        if host is None:
            return None
        host["CPU"] -= demand.driver_cpus
    placed = 0
    for node in left:
        take = min(worker_slots(node, demand), demand.workers - placed)
        node["CPU"] = node.get("CPU", 0.0) - take * demand.cpus
        node["GPU"] = node.get("GPU", 0.0) - take * demand.gpus
        placed += take
    return left if placed == demand.workers else None


def fits(demand: TrialDemand, nodes: list[Node]) -> bool:
    """Whether one trial can be placed on the nodes at all."""
    return place(demand, nodes) is not None


def trials_at_once(demand: TrialDemand, nodes: list[Node], limit: int) -> int:
    """How many trials (up to `limit`) the nodes hold at the same time."""
    count, left = 0, nodes
    while count < limit and (left := place(demand, left)) is not None:
        count += 1
    return count


def describe_nodes(nodes: list[Node]) -> str:
    cpus = sum(node.get("CPU", 0.0) for node in nodes)
    gpus = sum(node.get("GPU", 0.0) for node in nodes)
    where = "1 node" if len(nodes) == 1 else f"{len(nodes)} nodes"
    return f"{cpus:g} CPU" + (f" and {gpus:g} GPU" if gpus else "") + f" on {where}"


def fitting_setting(demand: TrialDemand, nodes: list[Node]) -> str | None:
    """A change of the spec's resources after which one trial fits: fewer CPUs a worker, then fewer workers."""
    for cpus in (1.0, 0.5, 0.25, 0.1):
        if cpus < demand.cpus and fits(TrialDemand(demand.workers, cpus, demand.gpus), nodes):
            return f"resources.cpus_per_worker: {cpus:g}"
    for workers in range(demand.workers - 1, 0, -1):
        if fits(TrialDemand(workers, demand.cpus, demand.gpus), nodes):
            return f"resources.workers_per_trial: {workers}"
    if demand.gpus and fits(TrialDemand(demand.workers, demand.cpus, 0.0), nodes):
        return "resources.gpus_per_worker: 0"
    return None


def unmet_demand(demand: TrialDemand, nodes: list[Node]) -> str | None:
    """None when one trial fits on `nodes`; else what it needs, what there is, and a setting that fits."""
    if fits(demand, nodes):
        return None
    message = f"one trial needs {demand.describe()}, but {describe_nodes(nodes)} can never hold it"
    setting = fitting_setting(demand, nodes)
    return message + (f"; a setting that fits: {setting}" if setting else "")


def demand_keys(demand: TrialDemand) -> str:
    """The spec keys that make up a trial's demand, for the error that names them."""
    keys = ["resources.workers_per_trial", "resources.cpus_per_worker"]
    return ", ".join(keys + (["resources.gpus_per_worker"] if demand.gpus else []))


def local_nodes(gpus: float) -> list[Node]:
    """The one node of the local Ray a sweep starts itself: this process's CPUs (as Ray counts them
    without a cgroup quota) and `gpus` GPUs."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return [{"CPU": float(cpus), "GPU": float(gpus)}]
