"""A trial keeps the checkpoint at which it reached its ranking value: in each Tune checkpoint beside the
last one (so a restart keeps it): the first of equal values, as the ranking takes it."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch
from ray import tune

from pipeline.sweep.trial import (
    CHECKPOINT_FILE,
    RANKED_FILE,
    RANKED_KEY,
    RankedCheckpoint,
    RayReporter,
    read_checkpoint,
)


class KeepFolders:
    """A SendResult that copies each reported checkpoint folder, as Tune persists it."""

    def __init__(self, root: Path):
        self.root, self.folders = root, []

    def __call__(self, result: dict, folder: str | None) -> None:
        if folder is not None:
            kept = self.root / f"checkpoint_{len(self.folders):03d}"
            shutil.copytree(folder, kept)
            self.folders.append(kept)


def checkpoint_at(step: int) -> dict:
    return {"step": step, "generator": {"w": torch.full((2,), float(step))}}


def test_the_best_evaluation_is_kept_beside_the_last_and_survives_a_restore(tmp_path):
    send = KeepFolders(tmp_path)
    reporter = RayReporter(None, {}, send, ranking=("fid", "min"))
    for step, fid in ((100, 90.0), (200, 70.0), (300, 70.0), (400, 85.0)):  # best at 200; 300 only ties it
        reporter.report(step, {"fid": fid}, {}, checkpoint_at(step))
    assert (reporter.ranked.step, reporter.ranked.value) == (200, 70.0)
    assert reporter.ranked.checkpoint["generator"]["w"][0] == 200.0
    last = send.folders[-1]
    assert (last / RANKED_FILE).exists() and not (send.folders[1] / RANKED_FILE).exists()  # at 200, gan.pt is it
    restored = read_checkpoint(tune.Checkpoint.from_directory(str(last)))
    ranked = restored[RANKED_KEY]
    assert isinstance(ranked, RankedCheckpoint) and (ranked.step, ranked.value) == (200, 70.0)
    assert ranked.checkpoint["step"] == 200 and restored["step"] == 400
    at_best = read_checkpoint(tune.Checkpoint.from_directory(str(send.folders[1])))
    assert at_best[RANKED_KEY].checkpoint["step"] == 200  # the checkpoint itself, when it is the ranked one
    assert torch.load(last / CHECKPOINT_FILE, weights_only=False)[RANKED_KEY] == {"step": 200, "value": 70.0}


def test_a_larger_is_better_metric_and_non_finite_values(tmp_path):
    reporter = RayReporter(None, {}, KeepFolders(tmp_path), ranking=("hq_fraction", "max"))
    for step, value in ((100, 0.2), (200, float("nan")), (300, 0.5), (400, 0.4)):
        reporter.report(step, {"hq_fraction": value}, {}, checkpoint_at(step))
    assert reporter.ranked.step == 300
