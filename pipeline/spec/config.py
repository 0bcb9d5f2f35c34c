"""The search-space file's schema: typed, strict pydantic models with the defaults of every key.

    from pipeline.spec.loading import load_spec   # reads a file into these models
    spec = load_spec("search_spaces/dropout.yaml", ["trial.train.steps=200"])

An unknown key, a wrong type or an impossible range is a pydantic error that `pipeline.spec.loading`
turns into `ConfigError`, naming the file and the dotted key.
"""

from __future__ import annotations

import copy
from typing import Annotated, Any, Literal

from pydantic import (
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from pipeline.errors import UserError
from pipeline.spec import metric_names
from pipeline.spec.base import Strict, absolute_path
from pipeline.spec.datasets import DatasetConfig
from pipeline.spec.kinds import KINDS, Kind

MetricName = Literal[metric_names.ALL]  # type: ignore[valid-type]


class ConfigError(UserError, ValueError):
    """A problem in a search-space file, located by file and dotted key."""

    def __init__(self, source: str, key: str, message: str):
        self.source, self.key, self.message = source, key, message
        super().__init__(f"{source}: {key}: {message}")





class ModelConfig(Strict):
    name: Literal["mlp", "dcgan"]  # mlp: fully connected, for 2D and tabular data; dcgan: convolutional, images
    latent_dim: int = Field(64, ge=1)  # DCGAN-paper scale is 100; 64 trains as well at 28x28
    dropout: float = Field(0.0, ge=0.0, lt=1.0)  # in D only: the knob the dropout study sweeps
    width: int = Field(128, ge=1)  # mlp: hidden units per layer; dcgan: channels of the last G layer
    layers: int = Field(3, ge=1)  # mlp hidden layers (PacGAN's 2D nets use 3-4); dcgan ignores it
    # D's own size where it should differ from G's (PacGAN's 2D nets: G 4 x 400, D 3 x 200); None: as G
    d_width: int | None = Field(None, ge=1)
    d_layers: int | None = Field(None, ge=1)  # mlp only, as layers
    d_maxout: int = Field(1, ge=1)  # mlp D: maxout units of this many pieces (PacGAN's 2D D: 5); 1: LeakyReLU
    minibatch_std: bool = False  # D sees the batch's feature spread (Karras et al. 2018), against collapse
    pack: int = Field(1, ge=1)  # PacGAN: D judges `pack` samples at once; 1 is a plain GAN
    # mlp D: its first layers read each sample of a pack alone (shared weights) before the pack is
    # joined; 0 joins at the input, as PacGAN, where grid25's modes stayed unresolved for 12000 steps
    # (benchmarks/RESULTS.md) and 2 layers resolved them as fast as an unpacked D
    pack_encoder_layers: int = Field(0, ge=0)
    spectral_norm: bool = False  # on every D layer with weights (Miyato et al. 2018)
    d_init: str | None = None  # a pipeline checkpoint whose discriminator D starts from
    d_frozen: bool = False  # D is not trained: with d_init, a fixed pretrained critic
    _absolute = field_validator("d_init")(absolute_path)

    @model_validator(mode="after")
    def _maxout_is_mlp(self) -> ModelConfig:
        if self.d_maxout > 1 and self.name != "mlp":  # a conv D has no maxout units to give
            raise ValueError(f"d_maxout {self.d_maxout} needs name: mlp, not {self.name}")
        return self

    @model_validator(mode="after")
    def _pack_is_joined_inside_d(self) -> ModelConfig:
        if self.pack_encoder_layers and self.name != "mlp":
            raise ValueError(f"pack_encoder_layers {self.pack_encoder_layers} needs name: mlp, not {self.name}")
        d_layers = self.d_layers or self.layers
        if self.pack_encoder_layers >= d_layers:  # the pack must be joined before D's last hidden layer ends
            raise ValueError(f"pack_encoder_layers {self.pack_encoder_layers} must be under D's {d_layers} layers")
        return self


class OptimizerConfig(Strict):
    """One network's optimizer (optim.g for G, optim.d for D)."""

    name: Literal["adam", "adamw", "rmsprop", "sgd"]
    lr: float = Field(gt=0.0)  # the learning rate (at the first step, where lr_decay lowers it)
    beta1: float = Field(0.5, ge=0.0, lt=1.0)  # adam(w): 0.5 as in DCGAN, since 0.9 oscillates with GANs
    beta2: float = Field(0.999, ge=0.0, lt=1.0)  # adam(w): the usual default
    momentum: float = Field(0.0, ge=0.0, lt=1.0)  # sgd and rmsprop; 0 keeps them plain
    nesterov: bool = False  # sgd with momentum > 0 only
    weight_decay: float = Field(0.0, ge=0.0)  # adamw's decoupled decay; torch's own default (0.01) is not implied
    lr_decay: Literal["none", "linear", "cosine"] = "none"  # to 0 at the last step

    @model_validator(mode="after")
    def _nesterov_needs_momentum(self) -> OptimizerConfig:
        if self.nesterov and (self.name != "sgd" or self.momentum == 0):
            raise ValueError("nesterov needs name: sgd and momentum > 0")
        return self


class OptimConfig(Strict):
    g: OptimizerConfig  # the generator's
    d: OptimizerConfig  # the discriminator's


class TrainConfig(Strict):
    steps: int = Field(ge=1)  # generator updates
    batch_size: int = Field(64, ge=2)  # BatchNorm needs at least 2
    d_steps: int = Field(1, ge=1)  # discriminator updates per generator update, as in Goodfellow 2014
    eval_every: int = Field(ge=1)  # steps between evaluations (metrics, pictures, a checkpoint; one Tune result)
    seed: int = 0  # weights, data order and dropout masks; search.seeds adds 0..k-1 to it
    loss: Literal["ns", "minimax", "hinge", "lsgan", "wgan-gp"] = "ns"  # ns: non-saturating, the default
    gp_weight: float = Field(10.0, ge=0.0)  # wgan-gp's gradient penalty, 10 as in Gulrajani et al.
    # gamma of R1 (Mescheder et al. 2018): gamma/2 * ||grad D||^2 at real data, any loss; 0 leaves it off
    r1_weight: float = Field(0.0, ge=0.0)
    # decay of a moving average of G's weights, sampled in G's place by evaluations, the report and
    # checkpoint readers (Yazici et al. 2019: averaged GANs are sharper); 0 leaves it off; 0.99-0.999 usual
    g_ema: float = Field(0.0, ge=0.0, lt=1.0)
    label_smoothing: float = Field(0.0, ge=0.0, lt=0.5)  # one-sided: D's real target is 1 - this
    grad_clip: float | None = Field(None, gt=0.0)  # max gradient norm for G and D; None: no clipping
    bf16: bool = False  # autocast to bfloat16 on GPU (ignored on CPU)
    compile: bool = False  # torch.compile both networks

    @model_validator(mode="after")
    def _eval_within_run(self) -> TrainConfig:
        if self.eval_every > self.steps:
            raise ValueError(f"eval_every ({self.eval_every}) exceeds steps ({self.steps})")
        return self


class EvalConfig(Strict):
    # FID is biased by n, so every trial of a sweep evaluates the same number of samples.
    samples: int = Field(2000, ge=10)
    # FID Inception weights for image data scored in Inception features (cifar10, celeba, image_folder): a local
    # copy of pytorch-fid's .pth; None fetches that file into the data cache, its SHA-256 checked
    inception_weights: str | None = None
    # "dataset": each dataset's own feature space (digits: a classifier of their classes; natural images:
    # Inception); "inception": FID Inception features for any image data, so digits can be scored as the
    # literature scores them (no modes are counted there: Inception's classes are not digits)
    features: Literal["dataset", "inception"] = "dataset"
    _absolute = field_validator("inception_weights")(absolute_path)


class TrialConfig(Strict):
    """The fixed trial: every trial of the sweep is this one with its swept values set."""

    dataset: DatasetConfig  # a mapping whose `name` picks the dataset; its other keys are below, per name
    model: ModelConfig
    optim: OptimConfig
    train: TrainConfig
    eval: EvalConfig = EvalConfig()

    @model_validator(mode="after")
    def _model_fits_data(self) -> TrialConfig:
        if self.model.name == "dcgan" and not self.dataset.images:
            raise ValueError(f"model dcgan needs an image dataset, not {self.dataset.name}")
        if self.train.batch_size % self.model.pack:
            raise ValueError(f"batch_size {self.train.batch_size} is not a multiple of model.pack {self.model.pack}")
        if self.eval.features == "inception" and not self.dataset.images:
            raise ValueError(f"eval.features: inception scores images, and {self.dataset.name} is not image data")
        if self.model.d_frozen and self.model.d_init is None:
            raise ValueError("model.d_frozen needs model.d_init: a frozen D must start from trained weights")
        if self.model.d_frozen and self.train.r1_weight > 0:
            raise ValueError("train.r1_weight penalizes D's gradient, but model.d_frozen keeps D fixed")
        return self


class ParameterSpec(Strict):
    """One swept parameter: exactly one way of drawing its values, and where it applies."""

    grid: list[Any] | None = None  # every value, in every combination with the other grid keys
    choice: list[Any] | None = None  # one of the values at random (random search, optuna)
    uniform: tuple[float, float] | None = None  # [low, high]
    log_uniform: tuple[float, float] | None = None  # [low, high], uniform in the logarithm: learning rates
    randint: tuple[int, int] | None = None  # [low, high], whole numbers, both ends included
    # a conditional parameter: drawn only in trials where each named parameter took one of the listed
    # values, e.g. {optim.d.name: [sgd, rmsprop]}; elsewhere it is absent and the fixed trial's value holds
    when: dict[str, list[Any]] | None = None

    @field_validator("when", mode="before")
    @classmethod
    def _values_as_lists(cls, when: object) -> object:
        if isinstance(when, dict):
            return {key: value if isinstance(value, list) else [value] for key, value in when.items()}
        return when

    @model_validator(mode="after")
    def _exactly_one(self) -> ParameterSpec:
        given = [name for name in KINDS if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of {', '.join(KINDS)}; got {given or 'none'}")
        self.sampler.check()
        return self

    @property
    def sampler(self) -> Kind:
        """The parameter's kind, holding its values: how it is drawn, bounded and searched."""
        name = next(name for name in KINDS if getattr(self, name) is not None)
        return KINDS[name](getattr(self, name))

    @property
    def kind(self) -> str:
        return self.sampler.name

    def applies(self, point: dict[str, Any]) -> bool:
        """Whether this parameter is drawn in a trial whose other values so far are `point`."""
        return all(key in point and point[key] in values for key, values in (self.when or {}).items())

    @property
    def values(self) -> Any:
        return self.sampler.values

    def candidates(self) -> list[Any]:
        """Values that bound what this parameter can take: all of a list, the ends of a range."""
        return self.sampler.candidates()



SEED_COUNT, SEED_RACE = "count", "race"  # the two forms of search.seeds (their tags are no keys of the file)


class SeedRace(Strict):
    """search.seeds as a race: min seeds for every configuration, at most max for a contender."""

    min: int = Field(ge=2)  # a paired test needs two seeds per configuration before it can drop one
    max: int = Field(ge=2)  # the most seeds a contender gets

    @model_validator(mode="after")
    def _min_below_max(self) -> SeedRace:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) exceeds max ({self.max})")
        return self


# a number of seeds, or a race: the mapping's form picks which, so an error names the race's own key
SeedCount = Annotated[
    Annotated[int, Tag(SEED_COUNT)] | Annotated[SeedRace, Tag(SEED_RACE)],
    Discriminator(lambda value: SEED_RACE if isinstance(value, dict | SeedRace) else SEED_COUNT),
]


class SearchConfig(Strict):
    algorithm: Literal["grid", "random", "optuna"] = "grid"  # optuna: Tree-structured Parzen Estimator
    num_samples: int = Field(1, ge=1)  # grid: repeats of the whole grid; random and optuna: trials drawn
    max_concurrent: int = Field(4, ge=1)  # trials running at once (Ray also caps it by resources)
    seed: int | None = None  # random and optuna: same seed, same trials
    # optuna: trials drawn at random before TPE models the results; Optuna's own default, which
    # leaves TPE little to do in the 12-24 trials of a small sweep
    startup_trials: int = Field(10, ge=1)
    # optuna's sampler: TPE (with constant liar, so trials running at once count as pending and are not
    # proposed twice), CMA-ES (numbers only, one metric) or a Gaussian process
    sampler: Literal["tpe", "cmaes", "gp"] = "tpe"
    time_budget_s: float | None = Field(None, gt=0.0)  # end the sweep after this long: running trials stop
    target: float | None = None  # end the sweep once a trial's (first) metric reaches this value
    # optuna: an earlier sweep (its experiment's name, for its newest sweep, or its parent run id) whose
    # trials inside this space the study starts with, so the sampler models them before proposing
    warm_start: str | None = None
    # training seeds per sampled configuration (train.seed + 0..seeds-1), each its own trial: a ranking
    # can then tell a real difference from seed noise (Lucic et al. 2018); 1 gives no interval. Or a race,
    # {min: 2, max: 8}: every configuration runs min seeds, then only those not yet shown worse than the
    # best get one more seed each round, up to max (F-Race; pipeline/stats/race.py)
    seeds: SeedCount = 1
    # the smallest difference in the (first) metric that matters, in its units: contenders whose
    # differences from the best lie within plus or minus delta are equivalent (and end a race)
    delta: float | None = Field(None, gt=0.0)
    max_trials: int | None = Field(None, ge=1)  # a race's total trials: no round starts that would pass it

    @field_validator("seeds")
    @classmethod
    def _at_least_one_seed(cls, seeds: int | SeedRace) -> int | SeedRace:
        if isinstance(seeds, int) and seeds < 1:
            raise ValueError(f"seeds must be at least 1, got {seeds}")
        return seeds

    @property
    def race(self) -> SeedRace | None:
        return self.seeds if isinstance(self.seeds, SeedRace) else None

    @property
    def max_seeds(self) -> int:
        """The most seeds one configuration trains with: the fixed count, or a race's max."""
        return self.seeds.max if isinstance(self.seeds, SeedRace) else self.seeds
    stop_collapsed_after: int | None = Field(None, ge=1)  # stop a trial whose modes stay <= 1 this many evals
    min_modes: int | None = Field(None, ge=1)  # rank (and register) only trials covering this many modes first


PBT_MUTABLE = ("optim.g.lr", "optim.d.lr", "model.dropout")  # what a running trial can take on in place
POPULATION_SCHEDULERS = ("pbt", "pb2")  # they copy one trial's checkpoint into another and mutate it


class SchedulerConfig(Strict):
    # median: Ray's median stopping rule; hyperband: HyperBand for BOHB, with optuna proposing (BOHB's
    # model-based half); pb2: population-based bandits, PBT whose mutations a GP bandit chooses
    name: Literal["fifo", "asha", "median", "hyperband", "pbt", "pb2"] = "fifo"
    grace_period: int = Field(2, ge=1)  # asha, median: evaluations every trial gets before it can be stopped
    reduction_factor: float = Field(3.0, gt=1.0)  # asha, hyperband: keep the best 1/reduction_factor at each rung
    min_samples: int = Field(3, ge=1)  # median: trials with results at a step before the median can stop one
    perturbation_interval: int = Field(2, ge=1)  # pbt, pb2: evaluations between exploit/explore rounds
    quantile_fraction: float = Field(0.25, gt=0.0, le=0.5)  # pbt, pb2: bottom share copies the top share
    resample_probability: float = Field(0.25, ge=0.0, le=1.0)  # pbt: redraw instead of scaling by 0.8/1.2
    # pbt: which keys to mutate, and from what distribution; pb2: their bounds (uniform or log_uniform)
    mutations: dict[str, ParameterSpec] = {}

    @model_validator(mode="after")
    def _mutations_for_population(self) -> SchedulerConfig:
        if self.name in POPULATION_SCHEDULERS and not self.mutations:
            raise ValueError(f"{self.name} needs mutations: one or more of {', '.join(PBT_MUTABLE)}")
        if self.name not in POPULATION_SCHEDULERS and self.mutations:
            raise ValueError("mutations are for the pbt and pb2 schedulers only")
        for key, param in self.mutations.items():
            if key not in PBT_MUTABLE:
                raise ValueError(f"{self.name} can mutate {', '.join(PBT_MUTABLE)} in a running trial, not {key}")
            if self.name == "pb2" and not param.sampler.draws_fractions:
                raise ValueError(f"pb2 searches within bounds: give {key} as uniform or log_uniform, "
                                 f"not {param.kind}")
        return self


class ResourcesConfig(Strict):
    # > 1: data-parallel over a Ray Train TorchTrainer (gloo on CPU, nccl on GPU); train.batch_size is global
    workers_per_trial: int = Field(1, ge=1)
    gpus_per_worker: float = Field(0.0, ge=0.0)  # fractional lets small GAN trials share a GPU
    cpus_per_worker: float = Field(1.0, gt=0.0)  # torch's threads in a worker follow it
    max_failures: int = Field(2, ge=0)  # restarts of a failed trial (a lost node, a killed worker) from its checkpoint
    # a finished trial's process runs the next trial: no new process importing torch and MLflow (~10 s a trial)
    reuse_actors: bool = True


Mode = Literal["min", "max"]


class ReportConfig(Strict):
    # the top trials the report draws in full (sample grids, progression, curves, class histograms); every
    # other trial is one leaderboard row with its numbers, so a 1,000-trial report stays a page
    detail: int = Field(20, ge=0)


class SweepSpec(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")  # the MLflow experiment's and the report's name
    # one metric, or a list of them (multi-objective: the report draws their Pareto front, optuna
    # searches all of them); the first ranks the leaderboard, stops trials early and picks the model
    metric: MetricName | list[MetricName]  # type: ignore[valid-type]
    mode: Mode | list[Mode]  # min or max, one per metric
    trial: TrialConfig
    parameters: dict[str, ParameterSpec] = {}  # the swept keys: dotted keys into trial, e.g. model.dropout
    search: SearchConfig = SearchConfig()
    scheduler: SchedulerConfig = SchedulerConfig()  # how trials are stopped early, or evolved (PBT)
    resources: ResourcesConfig = ResourcesConfig()  # what one trial takes from the cluster
    report: ReportConfig = ReportConfig()

    @field_validator("metric", mode="before")
    @classmethod
    def _known_metrics(cls, metric: object) -> object:
        """One clear message for an unknown name (the union's own errors list both of its forms)."""
        for name in metric if isinstance(metric, list) else [metric]:
            if isinstance(name, str) and name not in metric_names.ALL:
                raise ValueError(f"{name!r} is not a metric: one of {', '.join(metric_names.ALL)}")
        if isinstance(metric, list) and len(set(map(str, metric))) != len(metric):
            raise ValueError(f"lists a metric twice: {metric}")
        return metric

    @field_validator("mode")
    @classmethod
    def _one_mode_per_metric(cls, mode: str | list[str], info: ValidationInfo) -> str | list[str]:
        if "metric" not in info.data:  # the metric's own error is reported
            return mode
        metrics, modes = as_list(info.data["metric"]), as_list(mode)
        if len(metrics) != len(modes):
            raise ValueError(f"{len(modes)} mode(s) for the {len(metrics)} metric(s) {metrics}: "
                             "give one mode per metric")
        return mode

    @property
    def objectives(self) -> tuple[tuple[str, str], ...]:
        """((metric, mode), ...): one pair, or several for a multi-objective sweep."""
        return tuple(zip(as_list(self.metric), as_list(self.mode), strict=True))

    @property
    def primary_metric(self) -> str:
        """The first metric: the leaderboard's order, the schedulers' metric, the registered model's."""
        return self.objectives[0][0]

    @property
    def primary_mode(self) -> str:
        return self.objectives[0][1]


def as_list(value: str | list[str]) -> list[str]:
    return list(value) if isinstance(value, list) else [value]


def with_values(trial: TrialConfig | dict, values: dict[str, Any]) -> TrialConfig:
    """The trial config with dotted-key values (one sampled point of the search space) put in."""
    raw = copy.deepcopy(trial.model_dump() if isinstance(trial, TrialConfig) else trial)
    for key, value in values.items():
        node = raw
        *parents, leaf = key.split(".")
        for part in parents:
            node = node[part]
        node[leaf] = value
    return TrialConfig.model_validate(raw)


def flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1}: the dotted keys used for MLflow params and the report."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat
