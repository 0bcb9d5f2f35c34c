"""Each kind of swept parameter agrees with itself: what it draws, what Tune's domain for it samples and
what Optuna suggests all lie within it, and what lies outside is refused."""

import numpy as np
import optuna
import pytest
from ray import tune

from pipeline.spec.kinds import KINDS

EXAMPLES = {
    "grid": ([0.0, 0.5],),
    "choice": (["adam", "sgd"],),
    "uniform": ((0.0, 0.6),),
    "log_uniform": ((1e-4, 3e-3),),
    "randint": ((1, 4),),
}
OUTSIDE = {"grid": 0.25, "choice": "rmsprop", "uniform": 0.7, "log_uniform": 5e-5, "randint": 2.5}


@pytest.mark.parametrize("name", list(KINDS))
def test_draws_tune_samples_and_optuna_suggestions_lie_within_the_kind(name):
    kind = KINDS[name](*EXAMPLES[name])
    kind.check()
    rng = np.random.default_rng(0)
    drawn = [kind.draw(rng) for _ in range(200)]
    assert all(kind.contains(value) for value in drawn)
    function, arguments = kind.tune_domain()
    domain = getattr(tune, function)(*arguments)
    if name == "grid":
        assert domain == {"grid_search": [0.0, 0.5]}
    else:
        assert all(kind.contains(value) for value in domain.sample(size=200))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    distribution = kind.optuna_distribution()
    for _ in range(50):
        trial = study.ask()
        value = kind.suggest(trial, "key")
        assert kind.contains(value) and distribution._contains(distribution.to_internal_repr(value))
        study.tell(trial, 0.0)
    assert not kind.contains(OUTSIDE[name]) and not kind.contains(True)


def test_the_ends_of_an_integer_range_are_both_drawn_and_a_log_range_spreads_over_decades():
    randint = KINDS["randint"]((1, 4))
    rng = np.random.default_rng(0)
    assert {randint.draw(rng) for _ in range(200)} == {1, 2, 3, 4}
    assert {int(value) for value in tune.randint(*randint.tune_domain()[1]).sample(size=400)} == {1, 2, 3, 4}
    log_uniform = KINDS["log_uniform"]((1e-4, 1e-2))
    below_1e3 = np.mean([log_uniform.draw(rng) < 1e-3 for _ in range(2000)])
    assert 0.45 < below_1e3 < 0.55  # half the draws in each decade


@pytest.mark.parametrize(("name", "values", "message"), [
    ("grid", [], "at least one value"),
    ("uniform", (0.5, 0.1), "low < high"),
    ("log_uniform", (0.0, 1.0), "positive low bound"),
])
def test_values_a_kind_cannot_draw_from_are_refused(name, values, message):
    with pytest.raises(ValueError, match=message):
        KINDS[name](values).check()
