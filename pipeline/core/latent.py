"""The latent space of a trained generator, pictured from its checkpoint: a 10 x 10 grid over a plane
through latent space, and a linear interpolation between two latent points. The sweep's driver draws
these for its best trial and logs them on the parent run, where the report finds them.

    python -m pipeline.latent ray_results/<sweep>/<trial>/checkpoint_000005/gan.pt --out latent/
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from pipeline.core.gan import checkpoint_to_generator, generate
from pipeline.core.images import figure_to_array, image_grid

SIDE = 10  # 10 x 10 plane points, 10 interpolation steps
PLANE_RADIUS = 2.0  # the plane spans +-2 along each direction: where most of N(0, I)'s mass lies
LATENT_SEED = 0  # the same plane and end points for every report


def plane_noise(latent_dim: int, side: int = SIDE, seed: int = LATENT_SEED) -> torch.Tensor:
    """side x side latent points on the plane through the origin spanned by two random orthonormal directions."""
    directions, _ = torch.linalg.qr(torch.randn(latent_dim, 2, generator=torch.Generator().manual_seed(seed)))
    ticks = torch.linspace(-PLANE_RADIUS, PLANE_RADIUS, side)
    rows, cols = torch.meshgrid(ticks, ticks, indexing="ij")
    return torch.stack([rows.reshape(-1), cols.reshape(-1)], dim=1) @ directions.T


def interpolation_noise(latent_dim: int, steps: int = SIDE, seed: int = LATENT_SEED) -> torch.Tensor:
    """`steps` points on the straight line between two latent draws, both ends included."""
    start, end = torch.randn(2, latent_dim, generator=torch.Generator().manual_seed(seed + 1))
    weights = torch.linspace(0, 1, steps)[:, None]
    return (1 - weights) * start + weights * end


def points_picture(points: torch.Tensor, title: str, path: bool) -> np.ndarray:
    """2D (or a table's first two columns) latent maps: the points coloured by their place in the grid or line."""
    from matplotlib.figure import Figure

    shown = points[:, :2].numpy()
    figure = Figure(figsize=(4, 4), dpi=80)
    axes = figure.add_axes((0.14, 0.12, 0.82, 0.8))
    if path:
        axes.plot(shown[:, 0], shown[:, 1], color="tab:gray", linewidth=1)
    axes.scatter(shown[:, 0], shown[:, 1], c=np.arange(len(shown)), cmap="viridis", s=14)
    axes.set_title(title, fontsize=9)
    axes.tick_params(labelsize=7)
    return figure_to_array(figure)


def latent_pictures(checkpoint: dict) -> dict[str, np.ndarray]:
    """{'plane': ..., 'interpolation': ...} as H x W x 3 uint8 pictures."""
    generator, config = checkpoint_to_generator(checkpoint)
    latent_dim = config.model.latent_dim
    plane = generate(generator, plane_noise(latent_dim))
    line = generate(generator, interpolation_noise(latent_dim))
    if plane.dim() == 4:
        return {"plane": image_grid(plane, side=SIDE), "interpolation": image_grid(line, side=SIDE)}
    return {"plane": points_picture(plane, "a plane of latent space (colour: grid order)", path=False),
            "interpolation": points_picture(line, "a line between two latent points", path=True)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.latent",
        description="Draw a generator checkpoint's latent plane (10 x 10) and a latent interpolation as PNGs.",
    )
    parser.add_argument("checkpoint", type=Path, help="a trial checkpoint (gan.pt)")
    parser.add_argument("--out", type=Path, default=Path("latent"), help="folder for plane.png and interpolation.png")
    args = parser.parse_args(argv)
    if not args.checkpoint.is_file():
        print(f"error: {args.checkpoint}: no such checkpoint file", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    for name, picture in latent_pictures(torch.load(args.checkpoint, map_location="cpu", weights_only=False)).items():
        Image.fromarray(picture).save(args.out / f"{name}.png")
        print(args.out / f"{name}.png")
    return 0

