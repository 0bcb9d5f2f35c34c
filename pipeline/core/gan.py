"""One GAN's trainable state and its update steps; `train.py` runs the loop around them.

Everything a checkpoint needs lives in `GanState`: both networks, both optimizers and their lr
schedules, the data order, the noise generator and the step.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import torch
from torch import nn

from pipeline.core.data import BatchSampler, GanDataset
from pipeline.core.losses import decision_accuracy, discriminator_loss, generator_loss, gradient_penalty, r1_penalty
from pipeline.core.models import build_models
from pipeline.core.parallel import DataParallel
from pipeline.spec.config import OptimizerConfig, TrialConfig

CHECKPOINT_FORMAT = 2


@dataclass
class GanState:
    generator: nn.Module
    discriminator: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    schedule_g: torch.optim.lr_scheduler.LambdaLR
    schedule_d: torch.optim.lr_scheduler.LambdaLR
    sampler: BatchSampler
    noise: torch.Generator
    g_forward: Callable[[torch.Tensor], torch.Tensor]  # the generator, compiled when train.compile is on
    d_forward: Callable[[torch.Tensor], torch.Tensor]
    batch_size: int  # this worker's share of train.batch_size: all of it unless data-parallel
    parallel: DataParallel | None = None  # set when several workers train this GAN together
    g_ema: nn.Module | None = None  # the moving average of G's weights, when train.g_ema is on
    step: int = 0


def build_optimizer(config: OptimizerConfig, params, device: torch.device) -> torch.optim.Optimizer:
    # On a GPU, Adam's fused kernel: a small GAN's step is bound by kernel launches, and the default
    # (foreach) Adam launches about a dozen kernels per update (benchmarks/trial_overhead.py --device cuda)
    fused = True if device.type == "cuda" else None
    if config.name == "adam":
        return torch.optim.Adam(params, lr=config.lr, betas=(config.beta1, config.beta2), fused=fused)
    if config.name == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, betas=(config.beta1, config.beta2),
                                 weight_decay=config.weight_decay, fused=fused)
    if config.name == "rmsprop":
        return torch.optim.RMSprop(params, lr=config.lr, momentum=config.momentum)
    return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, nesterov=config.nesterov)


def lr_factor(decay: str, steps: int) -> Callable[[int], float]:
    """The lr multiplier at a step: constant, or falling linearly / along a cosine to 0 at `steps`."""
    if decay == "linear":
        return lambda step: max(0.0, 1.0 - step / steps)
    if decay == "cosine":
        return lambda step: 0.5 * (1.0 + math.cos(math.pi * min(step, steps) / steps))
    return lambda step: 1.0


def load_pretrained_discriminator(discriminator: nn.Module, path: str) -> None:
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
        discriminator.load_state_dict(checkpoint["discriminator"])
    except (OSError, KeyError, RuntimeError, TypeError) as err:
        raise ValueError(f"{path}: cannot load a discriminator from it (model.d_init): {err}") from err


def worker_seed(seed: int, rank: int) -> int:
    """Rank 0 keeps the single-worker seed; the others draw their own noise and dropout masks."""
    return seed + 1_000_003 * rank


def build_state(
    config: TrialConfig, dataset: GanDataset, device: torch.device, parallel: DataParallel | None = None
) -> GanState:
    """Both networks (the same initial weights on every worker), their optimizers and schedules."""
    torch.manual_seed(config.train.seed)
    # gradient penalties (wgan-gp's, R1) are per sample: a batch-normed D mixes the samples
    d_batch_norm = config.train.loss != "wgan-gp" and config.train.r1_weight == 0
    generator, discriminator = build_models(config.model, dataset.sample_shape, d_batch_norm)
    if config.model.d_init is not None:
        load_pretrained_discriminator(discriminator, config.model.d_init)
    discriminator.requires_grad_(not config.model.d_frozen)
    discriminator.train(not config.model.d_frozen)  # frozen: batch-norm statistics stay as loaded too
    generator, discriminator = generator.to(device), discriminator.to(device)
    opt_g = build_optimizer(config.optim.g, generator.parameters(), device)
    opt_d = build_optimizer(config.optim.d, discriminator.parameters(), device)
    steps = config.train.steps
    compiled = config.train.compile
    rank = parallel.rank if parallel else 0
    if parallel:
        parallel.broadcast_module(generator)
        parallel.broadcast_module(discriminator)
    if rank:
        torch.manual_seed(worker_seed(config.train.seed, rank))
    return GanState(
        generator, discriminator, opt_g, opt_d,
        torch.optim.lr_scheduler.LambdaLR(opt_g, lr_factor(config.optim.g.lr_decay, steps)),
        torch.optim.lr_scheduler.LambdaLR(opt_d, lr_factor(config.optim.d.lr_decay, steps)),
        BatchSampler(len(dataset), config.train.batch_size, config.train.seed, device),  # global: the same on all
        torch.Generator(device=device).manual_seed(worker_seed(config.train.seed, rank) + 1),
        torch.compile(generator) if compiled else generator,
        torch.compile(discriminator) if compiled else discriminator,
        parallel.local_batch(config.train.batch_size) if parallel else config.train.batch_size,
        parallel,
        averaged_copy(generator) if config.train.g_ema else None,
    )


def averaged_copy(generator: nn.Module) -> nn.Module:
    """The module that holds G's moving average: it starts as G and is only ever sampled, never trained."""
    return copy.deepcopy(generator).requires_grad_(False)


@torch.no_grad()
def update_g_ema(state: GanState, decay: float) -> None:
    """Moves G's average towards G's new weights and batch-norm statistics.

    The decay warms up as in TensorFlow's ExponentialMovingAverage, min(decay, (1 + step) / (10 + step)),
    so G's random start fades from the average within tens of steps rather than 1 / (1 - decay).
    """
    if state.g_ema is None:
        return
    weight = 1.0 - min(decay, (1 + state.step) / (10 + state.step))
    averaged, current = [], []
    for mine, theirs in zip(state_tensors(state.g_ema), state_tensors(state.generator), strict=True):
        if mine.is_floating_point():
            averaged.append(mine)
            current.append(theirs)
        else:  # batch norm's step counter
            mine.copy_(theirs)
    torch._foreach_lerp_(averaged, current, weight)  # one kernel for all tensors, not one each


def state_tensors(module: nn.Module) -> list[torch.Tensor]:
    return [*module.parameters(), *module.buffers()]


def sampling_generator(state: GanState) -> nn.Module:
    """What evaluations sample: G's moving average where the trial keeps one, else G."""
    return state.g_ema if state.g_ema is not None else state.generator


def state_to_checkpoint(state: GanState, config: TrialConfig, sample_shape: tuple[int, ...]) -> dict:
    """A checkpoint that describes itself: enough to rebuild the generator without the spec.

    A deep copy: state dicts alias the live tensors, which the next step would change.
    """
    return copy.deepcopy({
        "format": CHECKPOINT_FORMAT,
        "config": config.model_dump(),
        "sample_shape": sample_shape,
        "step": state.step,
        "generator": state.generator.state_dict(),
        "g_ema": state.g_ema.state_dict() if state.g_ema is not None else None,
        "discriminator": state.discriminator.state_dict(),
        "opt_g": state.opt_g.state_dict(),
        "opt_d": state.opt_d.state_dict(),
        "schedule_g": state.schedule_g.state_dict(),
        "schedule_d": state.schedule_d.state_dict(),
        "sampler": state.sampler.state_dict(),
        "noise_rng": state.noise.get_state(),
        "torch_rng": torch.get_rng_state(),
    })


def load_checkpoint(state: GanState, checkpoint: dict) -> None:
    if checkpoint.get("format") != CHECKPOINT_FORMAT:  # absent in files this code never wrote
        raise ValueError(f"checkpoint format {checkpoint.get('format')!r}, this code reads {CHECKPOINT_FORMAT}")
    state.generator.load_state_dict(checkpoint["generator"])
    if state.g_ema is not None:
        # the checkpoint of a trial without an average (PBT may restore from one) starts it at its G
        state.g_ema.load_state_dict(checkpoint["g_ema"] or checkpoint["generator"])
    state.discriminator.load_state_dict(checkpoint["discriminator"])
    state.opt_g.load_state_dict(checkpoint["opt_g"])
    state.opt_d.load_state_dict(checkpoint["opt_d"])
    state.schedule_g.load_state_dict(checkpoint["schedule_g"])
    state.schedule_d.load_state_dict(checkpoint["schedule_d"])
    state.sampler.load_state_dict(checkpoint["sampler"])
    state.noise.set_state(checkpoint["noise_rng"])
    torch.set_rng_state(checkpoint["torch_rng"])
    state.step = checkpoint["step"]
    if state.parallel and not state.parallel.is_main:  # the checkpoint holds rank 0's random state
        seed = worker_seed(checkpoint["config"]["train"]["seed"], state.parallel.rank) + state.step
        torch.manual_seed(seed)
        state.noise.manual_seed(seed + 1)


def checkpoint_to_generator(checkpoint: dict) -> tuple[nn.Module, TrialConfig]:
    """The trained generator of a checkpoint (on the CPU, in eval mode) and the trial config it was trained
    with: G's moving average where the trial kept one, as its evaluations sampled."""
    config = TrialConfig.model_validate(checkpoint["config"])
    generator, _ = build_models(config.model, tuple(checkpoint["sample_shape"]))
    generator.load_state_dict(checkpoint["g_ema"] or checkpoint["generator"])
    return generator.eval(), config


def apply_hyperparameters(state: GanState, config: TrialConfig) -> None:
    """Put the config's learning rates and dropout into a restored state.

    A checkpoint carries its optimizers' lr and its modules' dropout; when PBT restores a trial from
    another trial's checkpoint with mutated values, those must win. On a plain resume this is a no-op.
    """
    for optimizer, schedule, settings in ((state.opt_g, state.schedule_g, config.optim.g),
                                          (state.opt_d, state.schedule_d, config.optim.d)):
        schedule.base_lrs = [settings.lr for _ in optimizer.param_groups]
        factor = schedule.lr_lambdas[0](schedule.last_epoch)
        for group in optimizer.param_groups:
            group["initial_lr"] = settings.lr
            group["lr"] = settings.lr * factor
    for module in state.discriminator.modules():
        if isinstance(module, nn.Dropout):
            module.p = config.model.dropout


def autocast(config: TrialConfig, device: torch.device) -> AbstractContextManager:
    """bfloat16 autocast on GPU when train.bf16 is on; a no-op otherwise."""
    if not (config.train.bf16 and device.type == "cuda"):
        return nullcontext()  # a disabled torch.autocast still costs ~25 us to enter and leave, 3 times a step
    return torch.autocast(device.type, dtype=torch.bfloat16)


def real_batch(state: GanState, points: torch.Tensor) -> torch.Tensor:
    """The next batch of real data: this worker's share of the global batch when data-parallel."""
    indices = state.sampler.next_indices()
    if state.parallel:
        indices = state.parallel.shard(indices)
    return points[indices]


def average_gradients(state: GanState, module: nn.Module) -> None:
    if state.parallel:
        state.parallel.average_gradients(module)


def clip(module: nn.Module, max_norm: float | None) -> None:
    if max_norm is not None:
        nn.utils.clip_grad_norm_(module.parameters(), max_norm)


def discriminator_step(state: GanState, real: torch.Tensor, config: TrialConfig) -> torch.Tensor:
    """One update of D (none when D is frozen); returns [loss, acc_real, acc_fake] without syncing."""
    train, device = config.train, real.device
    z = torch.randn(real.shape[0], config.model.latent_dim, device=device, generator=state.noise)
    with torch.no_grad(), autocast(config, device):
        fake = state.g_forward(z)
    if train.r1_weight > 0:
        real = real.detach().requires_grad_(True)
    with torch.set_grad_enabled(not config.model.d_frozen), autocast(config, device):
        real_out, fake_out = state.d_forward(real).float(), state.d_forward(fake).float()
        loss = discriminator_loss(train.loss, real_out, fake_out, train.label_smoothing)
        if train.loss == "wgan-gp":
            loss = loss + train.gp_weight * gradient_penalty(state.d_forward, real, fake.float(), config.model.pack)
        if train.r1_weight > 0:
            loss = loss + train.r1_weight / 2 * r1_penalty(real_out, real, config.model.pack)
    if not config.model.d_frozen:
        state.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        average_gradients(state, state.discriminator)
        clip(state.discriminator, train.grad_clip)
        state.opt_d.step()
    acc_real, acc_fake = decision_accuracy(train.loss, real_out.detach(), fake_out.detach())
    return torch.stack([loss.detach(), acc_real, acc_fake])


def generator_step(state: GanState, config: TrialConfig, device: torch.device) -> torch.Tensor:
    z = torch.randn(state.batch_size, config.model.latent_dim, device=device, generator=state.noise)
    with autocast(config, device):
        loss = generator_loss(config.train.loss, state.d_forward(state.g_forward(z)).float())
    state.opt_g.zero_grad(set_to_none=True)
    loss.backward()
    average_gradients(state, state.generator)
    clip(state.generator, config.train.grad_clip)
    state.opt_g.step()
    update_g_ema(state, config.train.g_ema)
    return loss.detach()


def advance_schedules(state: GanState, config: TrialConfig) -> None:
    state.schedule_g.step()
    if not config.model.d_frozen:  # a frozen D's optimizer never steps, so neither does its schedule
        state.schedule_d.step()


@torch.no_grad()
def generate(generator: nn.Module, noise: torch.Tensor, batch: int = 500) -> torch.Tensor:
    generator.eval()
    samples = torch.cat([generator(chunk) for chunk in noise.split(batch)])
    generator.train()
    return samples
