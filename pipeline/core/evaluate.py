"""Evaluate any set of samples, or a trained generator, against a dataset; prints the metrics.

    python -m pipeline.evaluate --dataset ring8 --samples points.npy            # N x 2
    python -m pipeline.evaluate --dataset mnist5k --samples digits.npy --json   # N x 28 x 28 or N x C x H x W
    python -m pipeline.evaluate --checkpoint ray_results/.../checkpoint_000005/gan.pt
    python -m pipeline.evaluate --dataset mnist --dataset-path data/mnist --samples digits.npy
    python -m pipeline.evaluate --dataset mnist5k --samples digits.npy --floor  # + floor.*, floor_sd.* at this n
    python -m pipeline.evaluate --dataset cifar10 --features inception --weights pt_inception.pth --samples x.npy

Images are floats in [0, 1] or uint8 in [0, 255]. Exactly `--n` samples are scored (default: the
trial default, 2000, or all of them if fewer): FID and KID depend on n, so compare equal n only.
From a larger file, the n are drawn at random (seeded: the same file gives the same numbers), since
a file's own order is rarely random (MNIST's test file: its first 2000 digits score 6.3x the floor,
a random 2000 of it 2.5x; benchmarks/HISTORY.md, "The real-data floor against MNIST's test split").
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from pydantic import ValidationError

from pipeline.core.data import GanDataset, load_dataset
from pipeline.core.gan import checkpoint_to_generator, generate
from pipeline.core.train import EVAL_NOISE_SEED, build_evaluator
from pipeline.errors import UserError
from pipeline.spec.config import EvalConfig, TrialConfig
from pipeline.spec.datasets import DATASET_NAMES, dataset_config
from pipeline.spec.metric_names import FLOOR_PREFIX, FLOOR_SD_PREFIX, FLOOR_SOURCE_PARAM, FLOOR_SPREAD_PARAM

DEFAULT_N = EvalConfig().samples
PROTOCOL_KEY = "protocol"  # how the numbers were computed: feature space, n, the real reference
SUBSET_SEED = 0  # which n of a larger samples file are scored: fixed, so a file always scores the same


class InputError(UserError, ValueError):
    """A samples file or checkpoint that cannot be evaluated; the message says why."""


def samples_to_points(array: np.ndarray, dataset: GanDataset, source: str) -> torch.Tensor:
    """A user's array as the dataset's points: N x 2 as is, images rescaled from [0, 1] or uint8 to [-1, 1]."""
    if not dataset.is_image:
        width = dataset.sample_shape[0]
        if array.ndim != 2 or array.shape[1] != width:
            raise InputError(f"{source}: {dataset.name} samples must be N x {width}, got shape {array.shape}")
        return torch.as_tensor(array, dtype=torch.float32)
    if array.ndim == 3:
        array = array[:, None]
    if array.ndim != 4 or tuple(array.shape[1:]) != dataset.sample_shape:
        expected = " x ".join(map(str, dataset.sample_shape))
        raise InputError(f"{source}: {dataset.name} samples must be N x {expected} (or N x 28 x 28), got {array.shape}")
    if array.dtype == np.uint8:
        return torch.as_tensor(array, dtype=torch.float32) / 127.5 - 1.0
    low, high = float(array.min()), float(array.max())
    if low < 0.0 or high > 1.0:
        raise InputError(f"{source}: float images must lie in [0, 1], got values in [{low:.3g}, {high:.3g}]")
    return torch.as_tensor(array, dtype=torch.float32) * 2.0 - 1.0


def load_array(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError) as err:  # not a .npy file, or one holding Python objects
        raise InputError(f"{path}: not a .npy array ({err})") from None


def checkpoint_to_points(path: Path, n: int) -> tuple[torch.Tensor, TrialConfig]:
    """n samples from the generator of a pipeline checkpoint, with the fixed evaluation noise."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # torch.load raises many kinds on a file that is not a torch pickle
        raise InputError(f"{path}: not a pipeline checkpoint ({type(err).__name__}: {err})") from err
    if not isinstance(checkpoint, dict) or "generator" not in checkpoint or "config" not in checkpoint:
        raise InputError(f"{path}: not a pipeline checkpoint (no generator and config in it)")
    generator, config = checkpoint_to_generator(checkpoint)
    noise = torch.randn(n, config.model.latent_dim, generator=torch.Generator().manual_seed(EVAL_NOISE_SEED))
    return generate(generator, noise), config


def random_subset(points: torch.Tensor, n: int) -> torch.Tensor:
    """n of the points, drawn without replacement by a fixed seed (all of them, in order, if n is all)."""
    if points.shape[0] <= n:
        return points
    return points[torch.randperm(points.shape[0], generator=torch.Generator().manual_seed(SUBSET_SEED))[:n]]


def evaluate_points(points: torch.Tensor, dataset: GanDataset, evaluation: EvalConfig, floor: bool = False
                    ) -> dict[str, float | str]:
    """The metrics of `evaluation.samples` of the points (random_subset), in its feature space, and the
    protocol they were computed by; with `floor`, also the real-data floor at the same n (`floor.*`), its
    sd over real sets (`floor_sd.*`) and which real points those were."""
    n = evaluation.samples
    if points.shape[0] < n:
        raise InputError(f"--n {n} asks for more samples than the {points.shape[0]} given")
    try:  # the evaluator's own checks (n against the data, shapes) are the user's input here
        evaluator = build_evaluator(evaluation, dataset, None)
        metrics: dict[str, float | str] = dict(evaluator.evaluate(random_subset(points, n)))
    except ValueError as err:
        raise InputError(str(err)) from None
    metrics[PROTOCOL_KEY] = evaluator.protocol()
    if floor:
        spread = evaluator.floor_spread()
        metrics.update({f"{FLOOR_PREFIX}{k}": v for k, v in evaluator.real_floor().items()})
        metrics.update({f"{FLOOR_SD_PREFIX}{k}": v for k, v in spread.sd.items()})
        metrics.update({FLOOR_SOURCE_PARAM: f"{n} {evaluator.parts.origin}", FLOOR_SPREAD_PARAM: spread.method})
    return metrics


def dataset_from_args(args: argparse.Namespace) -> GanDataset:
    fields = {"path": str(args.dataset_path)} if args.dataset_path is not None else {}
    try:
        return load_dataset(dataset_config(args.dataset, **fields))
    except ValidationError as err:
        first = err.errors()[0]
        raise InputError(f"--dataset {args.dataset}: {'.'.join(map(str, first['loc'][1:]))}: {first['msg']} "
                         "(--dataset-path gives the path)") from None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.evaluate",
        description="Score samples (a .npy file) or a generator checkpoint against a dataset: FID, KID, "
        "precision/recall, density/coverage and mode-collapse metrics.",
    )
    parser.add_argument("--dataset", choices=DATASET_NAMES,
                        help="the real data (default with --checkpoint: the checkpoint's own dataset)")
    parser.add_argument("--dataset-path", type=Path, default=None,
                        help="folder or file of the dataset: image_folder and tabular need one; mnist, "
                             "fashion_mnist and cifar10 are downloaded into the data cache without it")
    parser.add_argument("--features", choices=["dataset", "inception"], default=None,
                        help="dataset: the data's own feature space (digits: a classifier of their classes; natural "
                             "images: Inception); inception: FID Inception features for any image data, as the "
                             "literature scores digits too (default: the checkpoint's eval.features, else dataset)")
    parser.add_argument("--weights", default=None,
                        help="Inception features: local FID Inception weights (pytorch-fid's .pth); without it "
                             "pytorch-fid's file is downloaded into the data cache and its SHA-256 checked")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--samples", type=Path, help=".npy file: N x 2 points, or images in [0, 1] or uint8")
    source.add_argument("--checkpoint", type=Path, help="a trial checkpoint (gan.pt) whose generator is sampled")
    parser.add_argument("--n", type=int, default=None,
                        help=f"samples to score (default {DEFAULT_N}, or all if fewer); from a larger file, a "
                        "random n of it, the same n every time")
    parser.add_argument("--floor", action="store_true",
                        help="also score real points the feature network never saw, at the same n (floor.*), "
                        "and the floor's sd over real sets (floor_sd.*): what a perfect generator would score")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> dict:
    if args.checkpoint is not None:
        if not args.checkpoint.is_file():
            raise InputError(f"{args.checkpoint}: no such checkpoint file")
        points, config = checkpoint_to_points(args.checkpoint, args.n or DEFAULT_N)
        dataset = dataset_from_args(args) if args.dataset else load_dataset(config.dataset)
        evaluation = EvalConfig(samples=config.eval.samples, features=args.features or config.eval.features,
                                inception_weights=args.weights or config.eval.inception_weights)
        check_features(evaluation, dataset)
    else:
        if args.dataset is None:
            raise InputError("--samples needs --dataset")
        if not args.samples.is_file():
            raise InputError(f"{args.samples}: no such samples file")
        dataset = dataset_from_args(args)
        evaluation = EvalConfig(features=args.features or "dataset", inception_weights=args.weights)
        check_features(evaluation, dataset)
        points = samples_to_points(load_array(args.samples), dataset, str(args.samples))
    n = args.n or min(DEFAULT_N, points.shape[0])
    return {"dataset": dataset.name, "samples": n,
            **evaluate_points(points, dataset, evaluation.model_copy(update={"samples": n}), args.floor)}


def check_features(evaluation: EvalConfig, dataset: GanDataset) -> None:
    if evaluation.features == "inception" and not dataset.is_image:
        raise InputError(f"--features inception scores images, and {dataset.name} is not image data")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        result = run(args)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_status
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>20}  {value:.6g}" if isinstance(value, float) else f"{key:>20}  {value}")
    return 0

