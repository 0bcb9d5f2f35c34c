import pytest
import torch

from pipeline.core.train import Diverged, losses_to_metrics, train
from pipeline.spec import metric_names as names

from .conftest import tiny_spec


class Collect:
    def __init__(self):
        self.reports = []

    def report(self, step, metrics, images, checkpoint):
        self.reports.append((step, metrics, checkpoint))


@pytest.mark.slow  # a few thousand training steps
def test_ring8_gan_learns_more_than_one_mode():
    spec = tiny_spec("ring8", "trial.train.steps=400", "trial.train.eval_every=200", "trial.eval.samples=2500")
    collected = Collect()
    final = train(spec.trial, collected)
    assert [step for step, *_ in collected.reports] == [200, 400]
    assert final[names.MODES] > 1
    assert 0.0 <= final[names.D_ACC_REAL] <= 1.0


@pytest.mark.slow  # two trainings of a DCGAN on digits
@pytest.mark.parametrize("g_ema", [0.0, 0.9])
def test_resume_from_checkpoint_matches_an_uninterrupted_run(g_ema):
    # dropout: the torch RNG state must resume too; g_ema: so must G's moving average
    spec = tiny_spec("ring8", "trial.model.dropout=0.3", f"trial.train.g_ema={g_ema}")
    whole = Collect()
    train(spec.trial, whole)
    resumed = Collect()
    checkpoint_at_20 = whole.reports[0][2]
    train(spec.trial, resumed, checkpoint=checkpoint_at_20)
    assert [step for step, *_ in resumed.reports] == [40]
    assert resumed.reports[0][1] == whole.reports[1][1]
    for key in ("generator", "discriminator") + (("g_ema",) if g_ema else ()):
        for name, tensor in whole.reports[1][2][key].items():
            assert torch.equal(tensor, resumed.reports[0][2][key][name]), name


def test_a_checkpoint_at_the_last_step_is_evaluated_once():
    # PBT can clone a donor that has just reported its last step: the clone has nothing left to train
    spec = tiny_spec("ring8")
    whole = Collect()
    train(spec.trial, whole)
    at_end = Collect()
    train(spec.trial, at_end, checkpoint=whole.reports[-1][2])
    assert [step for step, *_ in at_end.reports] == [40]
    scores = {key: value for key, value in whole.reports[-1][1].items() if key in at_end.reports[0][1]}
    assert scores == at_end.reports[0][1] and names.FID in scores  # the same model, the same fixed noise


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


def test_g_ema_is_the_warmed_up_moving_average_of_g_and_what_is_sampled():
    from pipeline.core.data import load_dataset
    from pipeline.core.gan import build_state, checkpoint_to_generator, generator_step, state_to_checkpoint

    decay = 0.9
    trial = tiny_spec("ring8", f"trial.train.g_ema={decay}").trial
    state = build_state(trial, load_dataset(trial.dataset), torch.device("cpu"))
    expected = {name: tensor.clone() for name, tensor in state.generator.state_dict().items()}
    for step in range(100):  # the warm-up ends at step 80, where (1 + step) / (10 + step) reaches 0.9
        state.step = step
        generator_step(state, trial, torch.device("cpu"))
        weight = 1 - min(decay, (1 + step) / (10 + step))
        for name, tensor in state.generator.state_dict().items():
            if tensor.is_floating_point():
                expected[name] = expected[name] + weight * (tensor - expected[name])
    for name, tensor in state.g_ema.state_dict().items():
        if tensor.is_floating_point():
            assert torch.allclose(tensor, expected[name], atol=1e-6), name
    first_weight = next(name for name in expected if name.endswith("weight"))
    assert not torch.allclose(expected[first_weight], state.generator.state_dict()[first_weight])
    generator, _ = checkpoint_to_generator(state_to_checkpoint(state, trial, (2,)))
    assert torch.equal(generator.state_dict()[first_weight], state.g_ema.state_dict()[first_weight])


def test_evaluations_score_the_average_that_checkpoint_readers_sample(tmp_path):
    """With g_ema on, a trial's reported metrics are those of its checkpoint's generator (the average)."""
    from pipeline.core.data import load_dataset
    from pipeline.core.evaluate import checkpoint_to_points, evaluate_points

    spec = tiny_spec("ring8", "trial.train.g_ema=0.9", "trial.eval.samples=500")
    collected = Collect()
    train(spec.trial, collected)
    _, reported, checkpoint = collected.reports[-1]
    torch.save(checkpoint, tmp_path / "gan.pt")
    points, _ = checkpoint_to_points(tmp_path / "gan.pt", 500)
    rescored = evaluate_points(points, load_dataset(spec.trial.dataset), spec.trial.eval)
    assert rescored[names.FID] == pytest.approx(reported[names.FID], rel=1e-6)
    assert rescored[names.HQ_FRACTION] == reported[names.HQ_FRACTION]
