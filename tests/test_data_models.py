import math

import pytest
import torch

from pipeline.core.data import BatchSampler, load_dataset
from pipeline.core.data.mixtures import GRID25_STD, RING8_STD
from pipeline.core.models import Dropout, Maxout, build_models
from pipeline.spec.config import ModelConfig
from pipeline.spec.datasets import dataset_config


@pytest.mark.parametrize(
    ("name", "shape", "modes", "std"),
    [("ring8", (2,), 8, RING8_STD), ("grid25", (2,), 25, GRID25_STD), ("mnist5k", (1, 28, 28), 10, None)],
)
def test_dataset_shapes(name, shape, modes, std):
    data = load_dataset(dataset_config(name))
    assert data.sample_shape == shape
    assert data.num_modes == modes
    assert data.labels.shape == (len(data),) and int(data.labels.max()) == modes - 1
    assert data.std == std
    if data.is_image:
        assert len(data) == 5000
        assert data.points.min() >= -1 and data.points.max() <= 1
        assert torch.bincount(data.labels).tolist() == [500] * 10


def test_mixture_centres_match_pacgan():
    ring = load_dataset(dataset_config("ring8"))
    assert torch.allclose(ring.centres.norm(dim=1), torch.ones(8))
    grid = load_dataset(dataset_config("grid25"))
    assert sorted(set(grid.centres[:, 0].tolist())) == [-4.0, -2.0, 0.0, 2.0, 4.0]
    spread = (ring.points - ring.centres[ring.labels]).std()
    assert math.isclose(float(spread), RING8_STD, rel_tol=0.05)


@pytest.mark.parametrize(
    ("model", "shape"),
    [("mlp", (2,)), ("mlp", (5,)), ("mlp", (1, 28, 28)), ("dcgan", (1, 28, 28)), ("dcgan", (3, 28, 28)),
     ("dcgan", (3, 32, 32)), ("dcgan", (1, 64, 64)), ("dcgan", (3, 64, 64))],
)
@pytest.mark.parametrize("options", [{}, {"pack": 2, "minibatch_std": True, "spectral_norm": True}])
def test_model_shapes(model, shape, options):
    g, d = build_models(ModelConfig(name=model, latent_dim=8, width=16, dropout=0.3, **options), shape)
    samples = g(torch.randn(6, 8))
    assert samples.shape == (6, *shape)
    assert d(samples).shape == (6 // options.get("pack", 1),)
    assert any(isinstance(m, torch.nn.Dropout) and m.p == 0.3 for m in d.modules())
    assert not any(isinstance(m, torch.nn.Dropout) for m in g.modules())


def test_dcgan_refuses_other_sizes():
    with pytest.raises(ValueError, match="square"):
        build_models(ModelConfig(name="dcgan"), (2,))
    with pytest.raises(ValueError, match="28, 32 or 64"):
        build_models(ModelConfig(name="dcgan"), (3, 48, 48))


@pytest.mark.parametrize(("model", "shape"), [("mlp", (2,)), ("dcgan", (1, 28, 28))])
def test_discriminator_takes_its_own_size(model, shape):
    def sizes(net):
        return [m.out_features if isinstance(m, torch.nn.Linear) else m.out_channels
                for m in net.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d, torch.nn.ConvTranspose2d))]

    g, d = build_models(ModelConfig(name=model, width=16, layers=4, d_width=8, d_layers=2), shape)
    same_g, same_d = build_models(ModelConfig(name=model, width=16, layers=4), shape)
    assert sizes(g) == sizes(same_g)  # G keeps width and layers
    if model == "mlp":
        assert sizes(d) == [8, 8, 1] and sizes(same_d) == [16, 16, 16, 16, 1]
    else:  # a conv D doubles its channels per layer from its width; dcgan has no `layers`
        assert sizes(d) == [8, 16, 1] and sizes(same_d) == [16, 32, 1]


@pytest.mark.parametrize("encoder_layers", [0, 1])
def test_packing_groups_consecutive_samples(encoder_layers):
    _, d = build_models(ModelConfig(name="mlp", pack=2, width=4, layers=2, pack_encoder_layers=encoder_layers), (2,))
    samples = torch.randn(4, 2)
    swapped = samples[[1, 0, 2, 3]]  # order inside a pack matters, packs stay apart
    assert d(samples)[1] == d(swapped)[1]
    assert d(samples)[0] != d(swapped)[0]


def test_batch_sampler_covers_each_pass_and_resumes():
    sampler = BatchSampler(10, 4, seed=0)
    first_pass = torch.cat([sampler.next_indices(), sampler.next_indices()])
    assert len(set(first_pass.tolist())) == 8
    state = sampler.state_dict()
    following = [sampler.next_indices() for _ in range(3)]
    again = BatchSampler(10, 4, seed=99)
    again.load_state_dict(state)
    assert all(torch.equal(a, again.next_indices()) for a in following)


def test_batch_sampler_serves_batches_on_its_device_and_checkpoints_on_the_host():
    # "meta" stands in for a GPU here: batches must come already on the device (no copy a step)
    sampler = BatchSampler(10, 4, seed=0, device="meta")
    assert sampler.next_indices().device.type == "meta"
    state = sampler.state_dict()
    assert state["order"].device.type == "cpu"  # checkpoints load anywhere
    sampler.load_state_dict(state)
    assert [sampler.next_indices().device.type for _ in range(3)] == ["meta"] * 3  # across a reshuffle


def test_dropout_keeps_the_share_and_scale_of_torch_dropout():
    torch.manual_seed(0)
    x = torch.ones(200_000, requires_grad=True)
    dropout = Dropout(0.3)
    y = dropout(x)
    kept = y != 0
    assert abs(kept.float().mean().item() - 0.7) < 0.005  # 0.7 +- ~5 standard errors
    assert torch.allclose(y[kept], torch.full_like(y[kept], 1 / 0.7))
    y.sum().backward()
    assert torch.equal(x.grad != 0, kept)  # the gradient flows through the kept units only, scaled alike
    assert torch.allclose(x.grad[kept], torch.full_like(x.grad[kept], 1 / 0.7))
    assert torch.equal(dropout.eval()(x), x)
    assert torch.equal(Dropout(0.0).train()(x), x)


def test_maxout_discriminator_takes_the_largest_piece():
    _, d = build_models(ModelConfig(name="mlp", width=4, layers=2, d_width=3, d_maxout=5), (2,))
    first = d[2]  # after Flatten and Packed
    assert isinstance(first, Maxout) and first.linear.out_features == 15
    x = torch.randn(6, 2)
    pieces = [x @ first.linear.weight[unit * 5 + p] + first.linear.bias[unit * 5 + p]
              for unit in range(3) for p in range(5)]
    expected = torch.stack([torch.stack(pieces[unit * 5:(unit + 1) * 5]).amax(0) for unit in range(3)], dim=1)
    torch.testing.assert_close(first(x), expected)
    assert d(x).shape == (6,)
    assert not any(isinstance(m, torch.nn.LeakyReLU) for m in d.modules())


def test_maxout_is_refused_for_dcgan():
    with pytest.raises(ValueError, match="d_maxout 5 needs name: mlp"):
        ModelConfig(name="dcgan", d_maxout=5)


def test_pack_encoder_layers_read_each_sample_alone():
    _, d = build_models(ModelConfig(name="mlp", pack=4, width=8, layers=3, pack_encoder_layers=2), (2,))
    linears = [m for m in d if isinstance(m, torch.nn.Linear)]
    assert [m.in_features for m in linears] == [2, 8, 4 * 8, 8]  # joined before the third layer
    encoder = d[:7]  # Flatten, then 2 x (Linear, LeakyReLU, Dropout): one sample in, its features out
    samples = torch.randn(8, 2)
    torch.testing.assert_close(encoder(samples)[5], encoder(samples[5:6])[0])


@pytest.mark.parametrize(("fields", "message"), [
    ({"name": "mlp", "layers": 3, "pack_encoder_layers": 3}, "must be under D's 3 layers"),
    ({"name": "mlp", "layers": 4, "d_layers": 2, "pack_encoder_layers": 2}, "must be under D's 2 layers"),
    ({"name": "dcgan", "pack_encoder_layers": 1}, "needs name: mlp"),
])
def test_pack_encoder_layers_are_refused_where_they_cannot_be(fields, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig(**fields)
