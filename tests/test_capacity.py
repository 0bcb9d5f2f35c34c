"""A trial that can never get its resources is refused before any trial starts, with a setting that fits."""

import os

from pipeline.sweep.capacity import TrialDemand, demand_keys, fits, local_nodes, trials_at_once, unmet_demand

from .conftest import SEARCH_SPACES, sweep_cli

TWO_CORES = [{"CPU": 2.0, "GPU": 0.0}]


def test_a_multi_worker_trial_counts_its_driver_and_each_worker_whole_on_a_node():
    assert not fits(TrialDemand(workers=2, cpus=1.0, gpus=0.0), TWO_CORES)  # 2.1 CPU: the driver's 0.1 too
    assert fits(TrialDemand(workers=2, cpus=0.5, gpus=0.0), TWO_CORES)
    assert fits(TrialDemand(workers=1, cpus=2.0, gpus=0.0), TWO_CORES)  # no driver of its own
    two_nodes = [{"CPU": 1.0}, {"CPU": 1.0}]
    assert fits(TrialDemand(workers=2, cpus=0.9, gpus=0.0), two_nodes)  # one worker a node, the driver beside one
    assert not fits(TrialDemand(workers=1, cpus=1.5, gpus=0.0), two_nodes)  # 2 CPUs in all, but not on one node
    assert not fits(TrialDemand(workers=2, cpus=1.0, gpus=1.0), [{"CPU": 8.0, "GPU": 1.0}])


def test_trials_at_once_counts_whole_trials():
    assert trials_at_once(TrialDemand(workers=2, cpus=0.5, gpus=0.0), TWO_CORES, limit=4) == 1
    assert trials_at_once(TrialDemand(workers=2, cpus=0.25, gpus=0.0), TWO_CORES, limit=4) == 3
    assert trials_at_once(TrialDemand(workers=1, cpus=1.0, gpus=0.0), TWO_CORES, limit=1) == 1


def test_the_message_says_what_one_trial_needs_what_there_is_and_a_setting_that_fits():
    problem = unmet_demand(TrialDemand(workers=2, cpus=1.0, gpus=0.0), TWO_CORES)
    assert problem == ("one trial needs 2.1 CPU (2 worker(s) x 1 CPU, + 0.1 CPU for the Tune trial driving them), "
                       "but 2 CPU on 1 node can never hold it; a setting that fits: resources.cpus_per_worker: 0.5")
    fewer_workers = unmet_demand(TrialDemand(workers=3, cpus=1.0, gpus=1.0), [{"CPU": 8.0, "GPU": 2.0}])
    assert fewer_workers.endswith("a setting that fits: resources.workers_per_trial: 2")
    assert unmet_demand(TrialDemand(workers=2, cpus=0.5, gpus=0.0), TWO_CORES) is None
    assert demand_keys(TrialDemand(2, 1.0, 1.0)).split(", ") == [
        "resources.workers_per_trial", "resources.cpus_per_worker", "resources.gpus_per_worker"]


def test_a_local_sweep_whose_trial_cannot_fit_the_machine_exits_2_at_once(tmp_path):
    cores = int(local_nodes(0)[0]["CPU"])
    result = sweep_cli(str(SEARCH_SPACES / "ring8.yaml"), "--tracking-uri", f"sqlite:///{tmp_path / 'ml.db'}",
                       "--set", "resources.workers_per_trial=2", "--set", f"resources.cpus_per_worker={cores}",
                       "--set", "resources.gpus_per_worker=0", cwd=tmp_path)
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert "Started a local Ray" not in result.stdout + result.stderr  # refused before Ray, nothing waited for
    message = result.stderr
    assert "ring8.yaml: resources.workers_per_trial, resources.cpus_per_worker: one trial needs" in message
    assert f"{2 * cores + 0.1:g} CPU (2 worker(s) x {cores} CPU" in message and f"but {cores} CPU on 1 node" in message
    fitting = float(message.split("a setting that fits: resources.cpus_per_worker: ")[1].split()[0])
    assert fits(TrialDemand(workers=2, cpus=fitting, gpus=0.0), local_nodes(0))  # the advice works
    assert not (tmp_path / "ml.db").exists() and not os.listdir(tmp_path)  # refused before any run was made


def test_waiting_for_nodes_needs_a_cluster_to_join():
    result = sweep_cli(str(SEARCH_SPACES / "ring8.yaml"),
                       "--wait-for-resources", "30")
    assert result.returncode == 2
    assert "--wait-for-resources needs --address" in result.stderr


def test_a_dry_run_shows_the_plan_and_says_what_a_run_would_refuse():
    result = sweep_cli(str(SEARCH_SPACES / "ring8.yaml"), "--dry-run",
                       "--set", "resources.workers_per_trial=2",
                       "--set", f"resources.cpus_per_worker={int(local_nodes(0)[0]['CPU'])}")
    assert result.returncode == 0
    assert "note: a sweep on this machine would stop here: " in result.stdout and "a setting that fits" in result.stdout
