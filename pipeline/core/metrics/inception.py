"""The FID Inception network (InceptionV3 as ported from TensorFlow's 2015-12-05 graph by pytorch-fid),
for natural images: its pool features for FID, KID and precision/recall, its 1008-class head for the
Inception Score. The weights are pytorch-fid's file, fetched once into the data cache, or a local copy.

    network = load_fid_inception(fid_inception_weights(None))    # or a path: eval.inception_weights
    features, probabilities = inception_outputs(network, images)  # N x C x H x W in [-1, 1] -> N x 2048, N x 1008

The module names match pytorch-fid's `fid_inception_v3()` state dict, so its weights file loads as it
is. About 5.7 GFLOPs an image at 299 x 299: a GPU's work; on a CPU, evaluate few samples.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.nn import functional

from pipeline.core.data.download import RemoteFile
from pipeline.core.data.published import Published, published_folder

FEATURE_DIM = 2048
INPUT_SIZE = 299

# pytorch-fid's FID Inception weights: the file behind the FID numbers papers print. The 8 hex digits in
# its name start its SHA-256.
FID_WEIGHTS_HOSTS = ("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/",)
FID_INCEPTION = Published("weights", (RemoteFile(
    "pt_inception-2015-12-05-6726825d.pth", "sha256:6726825d",
    tuple(host + "pt_inception-2015-12-05-6726825d.pth" for host in FID_WEIGHTS_HOSTS)),), FID_WEIGHTS_HOSTS)


class BasicConv2d(nn.Module):
    def __init__(self, fan_in: int, fan_out: int, **conv):
        super().__init__()
        self.conv = nn.Conv2d(fan_in, fan_out, bias=False, **conv)
        self.bn = nn.BatchNorm2d(fan_out, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return functional.relu(self.bn(self.conv(x)))


def average_pool(x: torch.Tensor) -> torch.Tensor:
    return functional.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)  # TF's padding rule


class InceptionA(nn.Module):
    def __init__(self, fan_in: int, pool_features: int):
        super().__init__()
        self.branch1x1 = BasicConv2d(fan_in, 64, kernel_size=1)
        self.branch5x5_1 = BasicConv2d(fan_in, 48, kernel_size=1)
        self.branch5x5_2 = BasicConv2d(48, 64, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(fan_in, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, padding=1)
        self.branch_pool = BasicConv2d(fan_in, pool_features, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        double = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        branches = [self.branch1x1(x), self.branch5x5_2(self.branch5x5_1(x)), double, self.branch_pool(average_pool(x))]
        return torch.cat(branches, 1)


class InceptionB(nn.Module):
    def __init__(self, fan_in: int):
        super().__init__()
        self.branch3x3 = BasicConv2d(fan_in, 384, kernel_size=3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(fan_in, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        double = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch3x3(x), double, functional.max_pool2d(x, 3, stride=2)], 1)


class InceptionC(nn.Module):
    def __init__(self, fan_in: int, channels_7x7: int):
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = BasicConv2d(fan_in, 192, kernel_size=1)
        self.branch7x7_1 = BasicConv2d(fan_in, c7, kernel_size=1)
        self.branch7x7_2 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(fan_in, c7, kernel_size=1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(fan_in, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seven = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        double = self.branch7x7dbl_1(x)
        for layer in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            double = layer(double)
        return torch.cat([self.branch1x1(x), seven, double, self.branch_pool(average_pool(x))], 1)


class InceptionD(nn.Module):
    def __init__(self, fan_in: int):
        super().__init__()
        self.branch3x3_1 = BasicConv2d(fan_in, 192, kernel_size=1)
        self.branch3x3_2 = BasicConv2d(192, 320, kernel_size=3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(fan_in, 192, kernel_size=1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        three = self.branch3x3_2(self.branch3x3_1(x))
        seven = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([three, seven, functional.max_pool2d(x, 3, stride=2)], 1)


class InceptionE(nn.Module):
    """`max_pool`: the last block of the FID network pools by maximum, the one before by average."""

    def __init__(self, fan_in: int, max_pool: bool):
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = BasicConv2d(fan_in, 320, kernel_size=1)
        self.branch3x3_1 = BasicConv2d(fan_in, 384, kernel_size=1)
        self.branch3x3_2a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(fan_in, 448, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, kernel_size=3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(fan_in, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        three = self.branch3x3_1(x)
        three = torch.cat([self.branch3x3_2a(three), self.branch3x3_2b(three)], 1)
        double = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        double = torch.cat([self.branch3x3dbl_3a(double), self.branch3x3dbl_3b(double)], 1)
        pooled = functional.max_pool2d(x, 3, stride=1, padding=1) if self.max_pool else average_pool(x)
        return torch.cat([self.branch1x1(x), three, double, self.branch_pool(pooled)], 1)


class FIDInception(nn.Module):
    def __init__(self):
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280, max_pool=False)
        self.Mixed_7c = InceptionE(2048, max_pool=True)
        self.fc = nn.Linear(FEATURE_DIM, 1008)  # in the weights file; FID uses the pool features before it

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """N x 3 x 299 x 299 in [-1, 1] -> N x 2048 pool features."""
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = functional.max_pool2d(x, 3, stride=2)
        x = functional.max_pool2d(self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x)), 3, stride=2)
        for name in ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c"):
            x = getattr(self, f"Mixed_{name}")(x)
        return functional.adaptive_avg_pool2d(x, 1).flatten(1)


def fid_inception_weights(path: str | None) -> Path:
    """The weights file: `path` (eval.inception_weights), else pytorch-fid's in the data cache, downloaded
    and its SHA-256 checked the first time."""
    if path is not None:
        return Path(path)
    return published_folder(FID_INCEPTION, None) / FID_INCEPTION.files[0].name


def load_fid_inception(path: str | Path) -> FIDInception:
    """The network with the weights of `path` (eval.inception_weights); errors name the file."""
    network = FIDInception()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        network.load_state_dict(state)
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file (eval.inception_weights)") from None
    except (RuntimeError, OSError, KeyError, TypeError) as err:
        raise ValueError(f"{path}: not the FID Inception weights (eval.inception_weights): {err}") from err
    return network.eval()


def fid_inception_from_state(state: dict[str, torch.Tensor]) -> FIDInception:
    """The network from weights already read (a sweep's driver ships them to its trials)."""
    network = FIDInception()
    network.load_state_dict(state)
    return network.eval()


@torch.no_grad()
def inception_outputs(network: FIDInception, images: torch.Tensor, batch: int = 50
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """N x C x H x W in [-1, 1] (C 1 or 3), resized bilinearly to 299 px as pytorch-fid does -> (N x 2048 pool
    features, N x 1008 class probabilities). The probabilities are the softmax of the head without its bias,
    as torch-fidelity's Inception Score takes them ('logits_unbiased')."""
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"images must be N x (1 or 3) x H x W, got shape {tuple(images.shape)}")
    device = next(network.parameters()).device
    features, probabilities = [], []
    for chunk in images.split(batch):
        chunk = chunk.to(device).expand(-1, 3, -1, -1)
        chunk = functional.interpolate(chunk, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
        pool = network(chunk)
        features.append(pool.cpu())
        probabilities.append(functional.softmax(pool @ network.fc.weight.T, dim=1).cpu())
    return torch.cat(features), torch.cat(probabilities)


def inception_features(network: FIDInception, images: torch.Tensor, batch: int = 50) -> torch.Tensor:
    """The pool features alone (see `inception_outputs`)."""
    return inception_outputs(network, images, batch)[0]
