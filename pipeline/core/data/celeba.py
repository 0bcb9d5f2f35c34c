"""CelebA's aligned faces (Liu et al. 2015) as the GAN literature uses them: each 178 x 218 JPEG scaled
so its shorter side is 64 px and centre-cropped to 64 x 64 (DCGAN's PyTorch recipe), read from
img_align_celeba.zip without unpacking it, or from the folder it unpacks to.

    celeba(path="data/img_align_celeba.zip", url=None, image_size=64, limit=10_000)
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import torch

from pipeline.core.data.base import DatasetError, GanDataset
from pipeline.core.data.download import RemoteFile
from pipeline.core.data.image_folder import image_folder, load_image
from pipeline.core.data.published import Published, published_folder
from pipeline.spec.feature_spaces import INCEPTION

# The official zip is on a Google Drive folder (no plain HTTP host): the user's `url` or `path` only.
CELEBA = Published("celeba", (RemoteFile("img_align_celeba.zip", "md5:00d2c5bc6d35e252742224ab0c1e8fcb", ()),), ())


ARCHIVE = "img_align_celeba.zip"


def faces_from_zip(archive: Path, image_size: int, limit: int | None) -> GanDataset:
    try:
        with zipfile.ZipFile(archive) as faces:
            names = sorted(name for name in faces.namelist() if name.lower().endswith(".jpg"))[:limit]
            if len(names) < 2:
                raise DatasetError(f"{archive}: holds {len(names)} .jpg faces; need at least 2")
            pixels = np.stack([load_image(io.BytesIO(faces.read(name)), image_size, "RGB") for name in names])
    except (OSError, zipfile.BadZipFile) as err:
        raise DatasetError(f"{archive}: not a readable zip of faces ({err})") from err
    points = torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    return GanDataset("celeba", points.contiguous(), torch.zeros(len(names), dtype=torch.int64), num_modes=0,
                      feature_space=INCEPTION)


def celeba(path: str | None, url: str | None, image_size: int = 64, limit: int | None = None) -> GanDataset:
    """From `path` (the zip, or a folder holding it or its unpacked JPEGs), else the zip fetched from `url`."""
    if path is None:
        return faces_from_zip(published_folder(CELEBA, url) / ARCHIVE, image_size, limit)
    source = Path(path)
    if source.is_dir() and (source / ARCHIVE).is_file():
        source = source / ARCHIVE
    if source.is_file():
        return faces_from_zip(source, image_size, limit)
    if source.is_dir():
        faces = image_folder(str(source), image_size, 3, limit)
        return GanDataset("celeba", faces.points, faces.labels, num_modes=0, feature_space=INCEPTION)
    raise DatasetError(f"{source}: no such file or folder (dataset.path of celeba)")
