import pytest
import torch

from pipeline import metric_names as names
from pipeline.train import Diverged, losses_to_metrics, train

from .conftest import tiny_spec


class Collect:
    def __init__(self):
        self.reports = []

    def report(self, step, metrics, images, checkpoint):
        self.reports.append((step, metrics, checkpoint))


def test_ring8_gan_learns_more_than_one_mode():
    spec = tiny_spec("ring8", "trial.train.steps=400", "trial.train.eval_every=200", "trial.eval.samples=2500")
    collected = Collect()
    final = train(spec.trial, collected)
    assert [step for step, *_ in collected.reports] == [200, 400]
    assert final[names.MODES] > 1
    assert 0.0 <= final[names.D_ACC_REAL] <= 1.0


def test_resume_from_checkpoint_matches_an_uninterrupted_run():
    spec = tiny_spec("ring8", "trial.model.dropout=0.3")  # dropout: the torch RNG state must resume too
    whole = Collect()
    train(spec.trial, whole)
    resumed = Collect()
    checkpoint_at_20 = whole.reports[0][2]
    train(spec.trial, resumed, checkpoint=checkpoint_at_20)
    assert [step for step, *_ in resumed.reports] == [40]
    assert resumed.reports[0][1] == whole.reports[1][1]
    for key in ("generator", "discriminator"):
        for name, tensor in whole.reports[1][2][key].items():
            assert torch.equal(tensor, resumed.reports[0][2][key][name]), name


def test_checkpoint_describes_itself():
    spec = tiny_spec("ring8")
    collected = Collect()
    train(spec.trial, collected)
    checkpoint = collected.reports[-1][2]
    assert checkpoint["step"] == 40
    assert checkpoint["config"] == spec.trial.model_dump()
    assert checkpoint["sample_shape"] == (2,)
    assert {"generator", "discriminator", "opt_g", "opt_d", "sampler", "noise_rng", "torch_rng"} <= set(checkpoint)


def test_non_finite_losses_raise_diverged():
    with pytest.raises(Diverged, match="non-finite"):
        losses_to_metrics(torch.tensor([float("nan"), 0.5, 0.5, 1.0]))
