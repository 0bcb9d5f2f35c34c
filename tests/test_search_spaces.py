"""Every shipped search-space file validates and trains one tiny trial, so none of them rots."""

import numpy as np
import pytest

from pipeline.core.train import train
from pipeline.spec.config import with_values
from pipeline.sweep.space import grid_points

from .conftest import SEARCH_SPACES, tiny_spec

SHIPPED = sorted(path.stem for path in SEARCH_SPACES.glob("*.yaml"))


class Collect:
    def __init__(self):
        self.reports = []

    def report(self, step, metrics, images, checkpoint):
        self.reports.append((step, metrics, images, checkpoint))


def test_the_main_and_the_2d_specs_ship():
    assert {"dropout", "ring8"} <= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_spec_trains_one_tiny_trial(name):
    spec = tiny_spec(name)
    first = grid_points(spec)[0] if spec.search.algorithm == "grid" else {}
    collected = Collect()
    final = train(with_values(spec.trial, first), collected)
    assert [step for step, *_ in collected.reports] == [20, 40]
    assert np.isfinite(final[spec.primary_metric])
    image = collected.reports[-1][2]["samples"]
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
