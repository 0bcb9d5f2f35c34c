"""Any folder of images (CelebA faces, say), read with Pillow, resized and centre-cropped."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from pipeline.core.data.base import DatasetError, GanDataset
from pipeline.spec.feature_spaces import INCEPTION

EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


def load_image(path: Path | BinaryIO, size: int, mode: str) -> np.ndarray:
    """Shorter side scaled to `size`, then the centre size x size square."""
    try:
        with Image.open(path) as image:
            image = image.convert(mode)
            scale = size / min(image.size)
            width, height = max(size, round(image.width * scale)), max(size, round(image.height * scale))
            image = image.resize((width, height), Image.Resampling.BICUBIC)
            left, top = (width - size) // 2, (height - size) // 2
            return np.asarray(image.crop((left, top, left + size, top + size)))
    except (OSError, UnidentifiedImageError) as err:
        raise DatasetError(f"{path}: not a readable image ({err})") from err


def image_folder(path: str, image_size: int, channels: int, limit: int | None) -> GanDataset:
    folder = Path(path)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: no such folder (dataset.path of image_folder)")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in EXTENSIONS and p.is_file())[:limit]
    if len(files) < 2:
        raise DatasetError(f"{folder}: found {len(files)} images ({', '.join(sorted(EXTENSIONS))}); need at least 2")
    mode = "L" if channels == 1 else "RGB"
    pixels = np.stack([load_image(file, image_size, mode) for file in files])
    if channels == 1:
        pixels = pixels[..., None]
    points = torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    return GanDataset("image_folder", points.contiguous(), torch.zeros(len(files), dtype=torch.int64), num_modes=0,
                      feature_space=INCEPTION)
