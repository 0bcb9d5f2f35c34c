"""The feature-extractor registry: every feature space a dataset can name has its extractor, and a space
registered from outside is the one an Evaluator scores in, without a change to the evaluator."""

from dataclasses import replace

import pytest
import torch

from pipeline.core.data import load_dataset
from pipeline.core.metrics import Evaluator
from pipeline.core.metrics.extractors import FEATURE_EXTRACTORS, Assessed, Coordinates, register_feature_extractor
from pipeline.spec import metric_names as names
from pipeline.spec.datasets import dataset_config
from pipeline.spec.feature_spaces import FEATURE_SPACES


def test_every_feature_space_has_one_extractor():
    assert set(FEATURE_SPACES) <= set(FEATURE_EXTRACTORS)
    assert all(FEATURE_EXTRACTORS[space].space == space for space in FEATURE_SPACES)


@pytest.fixture
def radial_space():
    """A space of the points' distances from the origin, registered for this test only."""

    @register_feature_extractor
    class Radial(Coordinates):
        space = "radial"

        def assess(self, points: torch.Tensor) -> Assessed:
            return Assessed(points.norm(dim=1, keepdim=True), None, None, None)

        def protocol(self) -> str:
            return "each point's distance from the origin"

    yield Radial
    del FEATURE_EXTRACTORS["radial"]


def test_a_registered_extractor_is_the_one_an_evaluator_scores_in(radial_space):
    ring = load_dataset(dataset_config("ring8"))
    radial = replace(ring, feature_space="radial", centres=None, num_modes=0)
    evaluator = Evaluator(radial, samples=500)
    assert isinstance(evaluator.extractor, radial_space)
    assert evaluator.protocol().startswith("each point's distance from the origin")
    assert evaluator.real.mu.shape == (1,)  # the statistics are of the radial feature
    # the ring's real points rotated keep their radii: the floor's score; scaled by 1.5, far from it
    angle = torch.tensor(1.0)
    rotation = torch.tensor([[angle.cos(), -angle.sin()], [angle.sin(), angle.cos()]])
    floor_points = evaluator.parts.floor_pool[:500]
    assert evaluator.evaluate(floor_points @ rotation.T)[names.FID] == pytest.approx(
        evaluator.real_floor()[names.FID], abs=1e-6)
    assert evaluator.evaluate(1.5 * floor_points)[names.FID] > 100 * evaluator.real_floor()[names.FID]
