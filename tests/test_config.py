
import pytest

from pipeline.spec.config import ConfigError, with_values
from pipeline.spec.loading import load_spec

from .conftest import SEARCH_SPACES, sweep_cli

BASE = """
name: t
metric: fid
mode: min
trial:
  dataset: {name: ring8}
  model: {name: mlp, dropout: 0.1}
  optim:
    g: {name: adam, lr: 1.0e-3}
    d: {name: sgd, lr: 1.0e-2}
  train: {steps: 100, eval_every: 50}
parameters:
  model.dropout: {grid: [0.0, 0.5]}
"""


def error_of(path, overrides=()) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_spec(path, list(overrides))
    return info.value


def test_base_spec_is_valid(spec_file):
    spec = load_spec(spec_file(BASE))
    assert spec.trial.optim.d.name == "sgd"
    assert spec.parameters["model.dropout"].values == [0.0, 0.5]


@pytest.mark.parametrize(
    ("override", "key", "fragment"),
    [
        ("trial.model.dropuot=0.1", "trial.model.dropuot", "unknown key"),
        ("trial.model.dropout=1.5", "trial.model.dropout", "less than 1"),
        ("trial.train.steps=abc", "trial.train.steps", "integer"),
        ("trial.train.eval_every=500", "trial.train", "eval_every (500) exceeds steps (100)"),
        ("trial.optim.g.name=adagrad", "trial.optim.g.name", "'adam', 'adamw', 'rmsprop' or 'sgd'"),
        ("metric=accuracy", "metric", "fid"),
        ("trial.model.name=dcgan", "trial", "needs an image dataset"),
        ("search.num_samples=0", "search.num_samples", "greater than or equal to 1"),
        ("parameters.model.dropuot.grid=[0.1]", "parameters.model.dropuot", "no such trial key"),
        ("parameters.model.dropout.grid=[0.1,2.0]", "parameters.model.dropout", "value 2.0"),
        ("parameters.optim.d.lr.log_uniform=[1.0e-2,1.0e-4]", "parameters.optim.d.lr", "low < high"),
        ("parameters.eval.samples.grid=[100,200]", "parameters.eval.samples", "fixed per sweep"),
        ("parameters.model.width.uniform=[64,256]", "parameters.model.width", "use randint or choice"),
        ("parameters.model.d_width.log_uniform=[64,256]", "parameters.model.d_width", "takes whole numbers"),
        ("resources.workers_per_trial=0", "resources.workers_per_trial", "greater than or equal to 1"),
    ],
)
def test_bad_values_name_file_and_key(spec_file, override, key, fragment):
    path = spec_file(BASE)
    error = error_of(path, [override])
    assert error.source == str(path)
    assert error.key == key
    assert fragment in error.message
    assert str(path) in str(error) and key in str(error)


def test_grid_search_refuses_sampled_parameters(spec_file):
    error = error_of(spec_file(BASE), ["parameters.optim.d.lr.log_uniform=[1.0e-4,1.0e-2]"])
    assert error.key == "parameters.optim.d.lr"
    assert "search.algorithm: random" in error.message
    spec = load_spec(spec_file(BASE), ["parameters.optim.d.lr.log_uniform=[1.0e-4,1.0e-2]", "search.algorithm=random"])
    assert spec.parameters["optim.d.lr"].kind == "log_uniform"


def test_parameter_needs_exactly_one_sampler(spec_file):
    error = error_of(spec_file(BASE.replace("{grid: [0.0, 0.5]}", "{grid: [0.0], choice: [0.1]}")))
    assert error.key == "parameters.model.dropout"
    assert "exactly one" in error.message


def test_missing_file_and_bad_yaml(tmp_path, spec_file):
    assert error_of(tmp_path / "nope.yaml").message == "no such file"
    assert "not valid YAML" in error_of(spec_file("name: [unclosed")).message


def test_missing_required_key(spec_file):
    error = error_of(spec_file(BASE.replace("metric: fid\n", "")))
    assert (error.key, error.message) == ("metric", "required key is missing")


def test_with_values_puts_sampled_values_into_the_trial(spec_file):
    spec = load_spec(spec_file(BASE))
    trial = with_values(spec.trial, {"model.dropout": 0.4, "optim.d.lr": 0.5})
    assert trial.model.dropout == 0.4 and trial.optim.d.lr == 0.5
    assert spec.trial.model.dropout == 0.1  # the spec itself is untouched


def test_cli_typo_exits_2_naming_the_key_before_ray_starts():
    result = sweep_cli(str(SEARCH_SPACES / "ring8.yaml"), "--set", "trial.model.dropuot=0.1")
    assert result.returncode == 2
    assert "trial.model.dropuot" in result.stderr and "ring8.yaml" in result.stderr
    assert "Ray" not in result.stdout + result.stderr


def test_dry_run_lists_the_grid_without_ray():
    result = sweep_cli(str(SEARCH_SPACES / "dropout.yaml"), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "4 to 8 trials (grid search)" in result.stdout
    assert "a race: each configuration starts with 2 seeds (train.seed 0..1)" in result.stdout
    assert "model.dropout=0.5" in result.stdout
    assert "Started a local Ray" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("spec", "override", "message"),
    [
        ("dropout.yaml", "trial.eval.samples=4000",
         "trial.eval.samples: at most 2000 for mnist5k (2000 real digits held back"),
        ("ring8.yaml", "search.min_modes=9", "search.min_modes: 9, but ring8 has 8 modes"),
    ],
)
def test_cli_refuses_what_the_data_cannot_give(spec, override, message):
    result = sweep_cli(str(SEARCH_SPACES / spec), "--dry-run", "--set", override)
    assert result.returncode == 2
    assert message in result.stderr


@pytest.mark.parametrize(
    ("overrides", "key", "fragment"),
    [
        (["trial.train.batch_size=63"], "trial.train.batch_size", "does not split over 2 workers"),
        (["parameters.train.batch_size.grid=[64,31]"], "parameters.train.batch_size", "batch_size 31"),
        (["trial.model.pack=4", "trial.train.batch_size=12"], "trial.train.batch_size", "model.pack 4"),
        (["parameters.train.batch_size.randint=[32,64]", "search.algorithm=random"],
         "parameters.train.batch_size", "listed values"),
        (["resources.gpus_per_worker=0.5"], "resources.gpus_per_worker", "fractional GPUs"),
        (["scheduler.name=pbt", "scheduler.mutations.model.dropout.uniform=[0.0,0.5]"],
         "resources.workers_per_trial", "pbt needs single-worker trials"),
    ],
)
def test_multi_worker_trials_need_evenly_split_batches(spec_file, overrides, key, fragment):
    error = error_of(spec_file(BASE), ["resources.workers_per_trial=2", *overrides])
    assert (error.key, fragment in error.message) == (key, True), error


def test_multi_worker_batch_size_is_global(spec_file):
    spec = load_spec(spec_file(BASE), ["resources.workers_per_trial=4", "trial.train.batch_size=64",
                                       "resources.gpus_per_worker=1"])
    assert spec.resources.workers_per_trial == 4 and spec.trial.train.batch_size == 64
