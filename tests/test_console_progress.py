"""The sweep's console output stays a few lines at any number of trials: a status line at most every
heartbeat, and a summary at the end naming the best trial (no Ray cluster: Tune's Trial objects alone)."""

from __future__ import annotations

from ray.tune.experiment import Trial

from pipeline.sweep.progress import ConsoleProgress


def trials(count: int) -> list[Trial]:
    made = [Trial("gan", config={"params": {"optim.d.lr": 1e-4 * (n + 1)}}, trial_id=f"t{n:04d}", stub=True)
            for n in range(count)]
    for n, trial in enumerate(made):
        trial.status = Trial.ERROR if n % 250 == 7 else Trial.TERMINATED
    return made


def test_a_thousand_trials_end_in_a_summary_of_a_few_lines(capsys):
    every = trials(1000)
    progress = ConsoleProgress("fid", "min", swept=["optim.d.lr"], results_dir="/r", heartbeat_s=3600)
    for n, trial in enumerate(every):
        for step, fid in ((1, 500.0 - n % 300), (2, 400.0 - n % 300), (3, 450.0)):  # its best is its second
            progress.on_trial_result(step, every, trial, {"fid": fid, "training_iteration": step})
        progress.on_step_end(n, every)
    progress.on_experiment_end(every)
    lines = [line for line in capsys.readouterr().out.splitlines() if line]
    assert len(lines) == 3
    assert lines[0].endswith("1000 trials: 4 error, 996 terminated")
    assert "best fid 101: trial t0299 (optim.d.lr=0.03)" in lines[1]
    assert lines[2] == "  errored: t0007, t0257, t0507 and 1 more (each one's error.txt is under /r)"


def test_a_heartbeat_line_says_how_many_run_and_the_leader_so_far(capsys):
    every = trials(3)
    every[2].status = Trial.RUNNING
    progress = ConsoleProgress("hq_fraction", "max", swept=["optim.d.lr"], results_dir="/r", heartbeat_s=0)
    progress.on_trial_result(1, every, every[1], {"hq_fraction": 0.25})
    progress.on_trial_result(1, every, every[2], {"hq_fraction": float("nan")})  # a diverged value never leads
    progress.on_step_end(1, every)
    line = capsys.readouterr().out.strip()
    assert "1 running, 2 terminated" in line and "best so far hq_fraction 0.25: trial t0001" in line
