"""Every shipped search-space file validates and trains one tiny trial, so none of them rots."""

import numpy as np
import pytest
import torch

from pipeline.core.metrics.inception import FIDInception
from pipeline.core.train import train
from pipeline.spec.config import with_values
from pipeline.sweep.space import grid_points

from .conftest import SEARCH_SPACES, tiny_spec
from .fixtures import write_celeba_zip, write_cifar10_tarball

SHIPPED = sorted(path.stem for path in SEARCH_SPACES.glob("*.yaml"))


class Collect:
    def __init__(self):
        self.reports = []

    def report(self, step, metrics, images, checkpoint):
        self.reports.append((step, metrics, images, checkpoint))


def test_the_main_and_the_2d_specs_ship():
    assert {"dropout", "ring8"} <= set(SHIPPED)


# The natural-image studies read their real files from the tests' copies in the published formats, and
# score on a randomly initialised FID Inception network saved as pytorch-fid's file is (nothing is fetched).
INCEPTION_DATA = {"cifar10", "celeba"}


@pytest.fixture(scope="module")
def local_data(tmp_path_factory) -> dict[str, list[str]]:
    folder = tmp_path_factory.mktemp("published")
    weights = folder / "pt_inception.pth"
    torch.manual_seed(0)
    torch.save(FIDInception().state_dict(), weights)
    # Inception at 299 px costs about 5.7 GFLOPs an image: 20 scored against 30 real keeps a trial under a minute
    scored = [f"trial.eval.inception_weights={weights}", "trial.eval.samples=20", "trial.train.batch_size=32"]
    return {
        "cifar10": [f"trial.dataset.path={write_cifar10_tarball(folder / 'cifar10', per_batch=10).parent}", *scored],
        "celeba": [f"trial.dataset.path={write_celeba_zip(folder / 'celeba', count=50)}",
                   "trial.dataset.image_size=32", *scored],
    }


@pytest.mark.slow  # a tiny trial of every shipped spec: the full lane's
@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_spec_trains_one_tiny_trial(name, request):
    local = request.getfixturevalue("local_data")[name] if name in INCEPTION_DATA else []
    spec = tiny_spec(name, *local)
    first = grid_points(spec)[0] if spec.search.algorithm == "grid" else {}
    collected = Collect()
    final = train(with_values(spec.trial, first), collected)
    assert [step for step, *_ in collected.reports] == [20, 40]
    assert np.isfinite(final[spec.primary_metric])
    image = collected.reports[-1][2]["samples"]
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
