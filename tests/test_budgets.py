"""PB2 and the sweep's budgets (search.target, search.time_budget_s) in real tiny ring8 sweeps; a
module of their own so that pytest-xdist runs them beside tests/test_menu.py's sweeps."""

import pytest

from pipeline.report.load import exploits
from pipeline.tracking.keys import END_REASON_TAG, HYPERPARAMETER_PREFIX, REASON_TAG, STATUS_TAG

from .conftest import PB2_MUTATIONS, assert_evaluated_to_the_end, fid_steps, ring8_sweep


@pytest.mark.e2e
def test_pb2_perturbs_within_its_bounds(tmp_path):
    client, runs, _, _ = ring8_sweep(tmp_path, "search.algorithm=random", "search.num_samples=2", "search.seed=0",
                               "parameters={optim.d.lr: {log_uniform: [1.0e-4, 3.0e-3]}}", *PB2_MUTATIONS,
                               "trial.train.steps=600")
    assert len(runs) == 2
    changed = 0
    for run in runs:
        key = f"{HYPERPARAMETER_PREFIX}optim.d.lr"
        history = assert_evaluated_to_the_end(client, run, key, [100, 200, 300, 400, 500, 600])
        assert all(within_bounds(m.value) for m in history)
        changed += len({m.value for m in history}) > 1
    assert changed >= 1
    taken = [exploit for run in runs for exploit in exploits(client, run.info.run_id)]
    assert taken and all(within_bounds(exploit["new"]["optim.d.lr"]) for exploit in taken)  # PB2's choice


def within_bounds(lr: float) -> bool:
    """Inside PB2's [1e-4, 3e-3], to float32's precision: PB2 picks 0.003000000026 at the bound."""
    return 1e-4 * (1 - 1e-6) <= lr <= 3e-3 * (1 + 1e-6)


@pytest.mark.e2e
def test_target_and_time_budget_end_the_sweep(tmp_path):
    # hq_fraction >= 0: the first evaluation reaches it, so the first trial ends the sweep and no other starts
    client, runs, parent, stdout = ring8_sweep(tmp_path / "target", "search.max_concurrent=1", "search.target=0.0")
    assert "search.target" in parent.data.tags[END_REASON_TAG] and "The sweep ended:" in stdout
    assert len(runs) == 1 and fid_steps(client, runs[0]) == [100]
    assert "search.target" in runs[0].data.tags[REASON_TAG]
    report = (tmp_path / "target" / "reports" / "ring8.html").read_text()
    assert "The sweep ended:" in report and "search.target" in report
    # a budget that ends trials that would run for hours. How many trials opened a run by then depends
    # on how fast Ray starts workers (in CI, beside other sweeps, none did within 40 s), so this asserts
    # that each one that did is closed; tests/test_run_ownership.py closes both kinds deterministically.
    client, runs, parent, stdout = ring8_sweep(tmp_path / "budget", "search.time_budget_s=40",
                                               "trial.train.steps=100000", "trial.train.eval_every=100")
    assert "time budget of 40 s" in parent.data.tags[END_REASON_TAG] and "The sweep ended:" in stdout
    assert parent.info.status == "FINISHED"
    for run in runs:  # the driver says why: with the trial's last result, or before its first one
        assert run.info.status != "RUNNING" and run.data.tags[STATUS_TAG] == "stopped"
        assert "sweep's end" in run.data.tags[REASON_TAG]
