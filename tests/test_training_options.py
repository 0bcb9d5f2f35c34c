"""Every model, loss and optimizer option builds and takes real steps on CPU; frozen D stays frozen;
exploding trials end as diverged."""

import math

import pytest
import torch

from pipeline.core.data import load_dataset
from pipeline.core.gan import advance_schedules, build_state, discriminator_step, generator_step
from pipeline.core.train import Diverged, train
from pipeline.spec.config import with_values
from pipeline.spec.loading import load_spec

from .conftest import SEARCH_SPACES, tiny_spec

CPU = torch.device("cpu")


def take_steps(trial, steps=3):
    dataset = load_dataset(trial.dataset)
    state = build_state(trial, dataset, CPU)
    for _ in range(steps):
        stats = discriminator_step(state, dataset.points[state.sampler.next_indices()], trial)
        loss_g = generator_step(state, trial, CPU)
        advance_schedules(state, trial)
    assert torch.isfinite(stats).all() and torch.isfinite(loss_g)
    return state


def ring8_trial(**values):
    return with_values(load_spec(SEARCH_SPACES / "ring8.yaml").trial, values)


def dcgan_trial(**values):
    spec = load_spec(SEARCH_SPACES / "dropout.yaml", ["trial.model.width=8", "trial.train.batch_size=8"])
    return with_values(spec.trial, values)


@pytest.mark.parametrize("loss", ["ns", "minimax", "hinge", "lsgan", "wgan-gp"])
@pytest.mark.parametrize("make", [ring8_trial, dcgan_trial])
def test_every_loss_steps(loss, make):
    take_steps(make(**{"train.loss": loss, "model.pack": 2, "model.minibatch_std": True}))


@pytest.mark.parametrize("loss", ["ns", "wgan-gp"])
def test_maxout_discriminator_steps(loss):  # PacGAN's 2D D with maxout units and every other D option
    take_steps(ring8_trial(**{"model.d_maxout": 5, "model.pack": 2, "model.pack_encoder_layers": 1,
                              "model.minibatch_std": True, "model.spectral_norm": True,
                              "train.r1_weight": 1.0, "train.loss": loss}))


@pytest.mark.parametrize(
    "values",
    [
        {"optim.g.name": "adamw", "optim.g.weight_decay": 0.01},
        {"optim.d.name": "rmsprop", "optim.d.momentum": 0.5},
        {"optim.d.name": "sgd", "optim.d.lr": 0.01, "optim.d.momentum": 0.9, "optim.d.nesterov": True},
        {"train.grad_clip": 0.1, "train.label_smoothing": 0.1, "train.d_steps": 2},
        {"model.spectral_norm": True, "train.loss": "hinge"},
        {"train.r1_weight": 1.0, "model.pack": 2},
        {"train.bf16": True},  # autocast on GPU only: a no-op here
    ],
)
def test_optimizer_and_training_options_step(values):
    take_steps(ring8_trial(**values))
    take_steps(dcgan_trial(**values))


@pytest.mark.parametrize("decay", ["linear", "cosine"])
def test_lr_decays_to_zero_at_the_last_step(decay):
    trial = ring8_trial(**{"optim.g.lr_decay": decay, "optim.d.lr_decay": decay, "train.steps": 10,
                           "train.eval_every": 10})
    state = take_steps(trial, steps=5)
    assert state.opt_g.param_groups[0]["lr"] == pytest.approx(trial.optim.g.lr * 0.5, rel=1e-6)
    for _ in range(5):
        advance_schedules(state, trial)
    assert state.opt_d.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)


def test_frozen_pretrained_discriminator_does_not_change(tmp_path):
    class Keep:
        def report(self, step, metrics, images, checkpoint):
            self.checkpoint = checkpoint

    kept = Keep()
    train(tiny_spec("ring8", "trial.train.steps=2", "trial.train.eval_every=2").trial, kept)  # any trained D
    path = tmp_path / "pretrained.pt"
    torch.save(kept.checkpoint, path)
    trial = ring8_trial(**{"model.d_init": str(path), "model.d_frozen": True})
    state = take_steps(trial, steps=5)
    for name, tensor in state.discriminator.state_dict().items():
        assert torch.equal(tensor, kept.checkpoint["discriminator"][name]), name
    unfrozen = take_steps(ring8_trial(**{"model.d_init": str(path)}), steps=1).discriminator.state_dict()
    first = next(name for name in unfrozen if name.endswith("weight"))
    assert not torch.equal(unfrozen[first], kept.checkpoint["discriminator"][first])


def test_r1_penalty_is_the_squared_gradient_norm_per_pack():
    """A linear D has the gradient w everywhere: the penalty is ||w||^2, whatever the batch or packing."""
    from pipeline.core.losses import r1_penalty

    for pack in (1, 2):
        linear = torch.nn.Linear(2 * pack, 1)
        real = torch.randn(8, 2, requires_grad=True)
        penalty = r1_penalty(linear(real.reshape(-1, 2 * pack)), real, pack)
        assert penalty.item() == pytest.approx(linear.weight.pow(2).sum().item(), rel=1e-5)
        penalty.backward()  # create_graph: D's weights get the penalty's gradient, 2w
        assert torch.allclose(linear.weight.grad, 2 * linear.weight, rtol=1e-5)


def test_r1_refuses_a_frozen_discriminator(tmp_path):
    with pytest.raises(ValueError, match="r1_weight"):
        ring8_trial(**{"model.d_init": str(tmp_path / "d.pt"), "model.d_frozen": True, "train.r1_weight": 1.0})


def test_bad_d_init_names_the_file(tmp_path):
    with pytest.raises(ValueError, match="model.d_init"):
        take_steps(ring8_trial(**{"model.d_init": str(tmp_path / "none.pt")}))


def test_huge_learning_rate_diverges():
    spec = tiny_spec("ring8", "trial.optim.d.lr=1000", "trial.optim.d.name=sgd")
    with pytest.raises(Diverged):
        train(spec.trial, None)
    adam = tiny_spec("ring8", "trial.optim.d.lr=1000")  # adam stays finite, but its losses explode
    with pytest.raises(Diverged, match="loss beyond"):
        train(adam.trial, None)


@pytest.mark.slow
def test_compiled_networks_train_like_eager_ones():
    # SGD: Adam's first update is about lr * sign(gradient), which turns the float noise between
    # compiled and eager kernels on a near-zero gradient into a whole lr of difference
    values = {"model.width": 16, "optim.g.name": "sgd", "optim.d.name": "sgd", "optim.g.lr": 0.1, "optim.d.lr": 0.1}
    eager_trial = ring8_trial(**values)
    initial = build_state(eager_trial, load_dataset(eager_trial.dataset), CPU).generator
    compiled = take_steps(ring8_trial(**values, **{"train.compile": True}), steps=2)
    eager = take_steps(eager_trial, steps=2)
    start = dict(initial.named_parameters())
    eager_updates = {name: tensor - start[name] for name, tensor in eager.generator.named_parameters()}
    compiled_updates = {name: tensor - start[name] for name, tensor in compiled.generator.named_parameters()}
    largest = max(update.abs().max() for update in eager_updates.values())
    for name, update in eager_updates.items():
        assert (update - compiled_updates[name]).abs().max() <= 0.01 * largest, name
    compiled_buffers = dict(compiled.generator.named_buffers())  # batch norm's statistics: no optimizer in between
    for name, buffer in eager.generator.named_buffers():
        assert torch.allclose(buffer, compiled_buffers[name], atol=1e-4), name
    assert math.isfinite(float(compiled.opt_g.param_groups[0]["lr"]))


def test_tabular_trial_trains_and_pictures_in_original_units(tmp_path):
    from .fixtures import write_csv

    path = write_csv(tmp_path / "people.csv")
    spec = tiny_spec("ring8", f"trial.dataset={{name: tabular, path: {path}}}", "trial.eval.samples=100")

    class Keep:
        def report(self, step, metrics, images, checkpoint):
            self.metrics, self.images = metrics, images

    kept = Keep()
    final = train(spec.trial, kept)
    assert math.isfinite(final["fid"]) and "modes" not in final  # a table has no known modes
    assert kept.images["samples"].shape[2] == 3


def test_restore_takes_the_configs_learning_rates_and_dropout():
    """PBT restores a trial from another's checkpoint with mutated values: the values must win."""
    from pipeline.core.gan import apply_hyperparameters, load_checkpoint, state_to_checkpoint

    donor_trial = ring8_trial(**{"optim.g.lr_decay": "linear", "train.steps": 10, "train.eval_every": 10})
    donor = take_steps(donor_trial, steps=5)
    checkpoint = state_to_checkpoint(donor, donor_trial, (2,))
    mutated = with_values(donor_trial, {"optim.g.lr": 0.004, "optim.d.lr": 0.002, "model.dropout": 0.25})
    state = build_state(mutated, load_dataset(mutated.dataset), CPU)
    load_checkpoint(state, checkpoint)
    apply_hyperparameters(state, mutated)
    assert state.opt_g.param_groups[0]["lr"] == pytest.approx(0.004 * 0.5)  # halfway down the linear decay
    assert state.opt_d.param_groups[0]["lr"] == pytest.approx(0.002)
    assert {m.p for m in state.discriminator.modules() if isinstance(m, torch.nn.Dropout)} == {0.25}
    advance_schedules(state, mutated)
    assert state.opt_g.param_groups[0]["lr"] == pytest.approx(0.004 * 0.4)
