"""How fast a discriminator alone learns to tell grid25 from grid25 blurred by Gaussian noise, packed
(PacGAN) or one sample at a time, with LeakyReLU or maxout units, the pack joined at D's input (as
PacGAN) or after layers that read each sample alone: no generator, a fixed fake.

    python benchmarks/packed_d_resolution.py --steps 3000 --blur 0.15
    python benchmarks/packed_d_resolution.py --steps 3000 --blur 0.15 --packs 2 4 --maxout 1 --encoder-layers 1 2

Why: part 4's grid25 probes with packing ended with D at chance (loss 2 ln 2) from the first
evaluation and G a blur of the grid. The fake here is such a blur, with every mode in the right
proportion, so D can only win by resolving the modes' width (0.05); how many steps that takes is
what a GAN trial must leave D. One process, one thread: the configurations run one after another.
"""

from __future__ import annotations

import argparse
import itertools
import math
import time

import torch

from pipeline.core.data import load_dataset
from pipeline.core.gan import build_optimizer
from pipeline.core.losses import decision_accuracy, discriminator_loss
from pipeline.core.models import build_models
from pipeline.spec.config import ModelConfig, OptimizerConfig
from pipeline.spec.datasets import dataset_config

CHANCE = 2 * math.log(2)  # D's loss (real + fake cross-entropy) when its logits carry nothing


def sampled(points: torch.Tensor, batch: int, generator: torch.Generator) -> torch.Tensor:
    return points[torch.randint(len(points), (batch,), generator=generator)]


def blurred(points: torch.Tensor, batch: int, blur: float, generator: torch.Generator) -> torch.Tensor:
    """`batch` data points, each moved by N(0, blur^2) noise per coordinate: the modes widened."""
    picked = sampled(points, batch, generator)
    return picked + blur * torch.randn(picked.shape, generator=generator)


def d_loss(d: torch.nn.Module, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, float]:
    """A trial's D loss (ns: real + fake cross-entropy) and the share of packs D puts on the right side."""
    real_logits, fake_logits = d(real), d(fake)
    on_real, on_fake = decision_accuracy("ns", real_logits, fake_logits)
    return discriminator_loss("ns", real_logits, fake_logits), ((on_real + on_fake) / 2).item()


def train_d(pack: int, maxout: int, encoder_layers: int, args: argparse.Namespace,
            points: torch.Tensor) -> list[tuple[float, float]]:
    """D's loss and accuracy on fresh batches at each quarter of the steps."""
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    # PacGAN's 2D D (3 x 200); G's sizes do not matter here but build_models wants them
    config = ModelConfig(name="mlp", width=400, layers=4, d_width=200, d_layers=3, d_maxout=maxout, pack=pack,
                         pack_encoder_layers=encoder_layers)
    _, d = build_models(config, (2,))
    optimizer = build_optimizer(OptimizerConfig(name="adam", lr=args.lr), d.parameters(), torch.device("cpu"))
    checkpoints = []
    for step in range(1, args.steps + 1):
        real = sampled(points, args.batch_size, generator)
        loss, _ = d_loss(d, real, blurred(points, args.batch_size, args.blur, generator))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % (args.steps // 4) == 0:
            with torch.no_grad():  # a held-out pair of batches, 8 times the training batch
                real = sampled(points, 8 * args.batch_size, generator)
                loss, accuracy = d_loss(d, real, blurred(points, 8 * args.batch_size, args.blur, generator))
            checkpoints.append((loss.item(), accuracy))
    return checkpoints


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000, help="D updates per configuration (a multiple of 4)")
    parser.add_argument("--blur", type=float, default=0.15, help="the fake's noise sd (the modes' own: 0.05)")
    parser.add_argument("--lr", type=float, default=5e-4, help="D's Adam learning rate (part 4's recipe)")
    parser.add_argument("--batch-size", type=int, default=1024, help="samples per side, packs included")
    parser.add_argument("--packs", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--maxout", type=int, nargs="+", default=[1, 5], help="pieces per unit; 1: LeakyReLU")
    parser.add_argument("--encoder-layers", type=int, nargs="+", default=[0],
                        help="D layers that read each sample of a pack alone (model.pack_encoder_layers)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.steps % 4:
        parser.error(f"--steps {args.steps} is not a multiple of 4")
    torch.set_num_threads(1)
    points = load_dataset(dataset_config("grid25")).points
    quarters = [args.steps * q // 4 for q in range(1, 5)]
    print(f"grid25 against its blur (sd {args.blur}), D 3 x 200, lr {args.lr}, batch {args.batch_size}, "
          f"seed {args.seed}; chance: loss {CHANCE:.3f}, accuracy 50%\n")
    print("| pack | maxout | encoder layers | " + " | ".join(f"loss, accuracy at {q}" for q in quarters)
          + " | seconds |")
    print("|---:|---:|---:|" + "---:|" * (len(quarters) + 1))
    for pack, maxout, encoder_layers in itertools.product(args.packs, args.maxout, args.encoder_layers):
        start = time.perf_counter()
        try:
            checkpoints = train_d(pack, maxout, encoder_layers, args, points)
        except ValueError as error:  # a pack that does not divide the batch, encoder layers D lacks
            parser.error(f"--packs {pack} --maxout {maxout} --encoder-layers {encoder_layers}: {error}")
        cells = " | ".join(f"{loss:.3f}, {accuracy:.0%}" for loss, accuracy in checkpoints)
        print(f"| {pack} | {maxout} | {encoder_layers} | {cells} | {time.perf_counter() - start:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
