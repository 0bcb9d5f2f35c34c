"""The FID Inception network: its layout, its weights from a local file or fetched by URL (SHA-256
checked), and image_folder trials scored on it. The real weights cannot be fetched here, so the tests
use a randomly initialised network saved the way pytorch-fid's weights file is (a plain state dict),
served from loopback."""

import hashlib

import pytest
import torch

from pipeline.core.data.download import DATA_HOME_VARIABLE, DownloadError, RemoteFile
from pipeline.core.data.published import Published
from pipeline.core.metrics import inception
from pipeline.core.metrics.inception import FEATURE_DIM, FIDInception, inception_features, load_fid_inception
from pipeline.core.train import train
from pipeline.spec.loading import load_spec

from .conftest import SEARCH_SPACES
from .fixtures import write_image_folder
from .servers import FileServer


def test_layout_matches_inception_v3():
    network = FIDInception()
    # torchvision's InceptionV3 without its aux head has 23,834,568 parameters with a 1000-way fc;
    # the FID network's fc is 1008-way: 8 more rows of 2048 weights and a bias
    assert sum(p.numel() for p in network.parameters()) == 23_834_568 + 8 * 2049
    assert network.Mixed_7c.branch_pool.conv.in_channels == 2048


@pytest.mark.parametrize("shape", [(2, 1, 28, 28), (2, 3, 64, 64)])
def test_features_of_any_small_image(weights_file, shape):
    network = load_fid_inception(weights_file)
    features = inception_features(network, torch.rand(shape) * 2 - 1)
    assert features.shape == (2, FEATURE_DIM) and torch.isfinite(features).all()


def test_loading_errors_name_the_option(tmp_path):
    with pytest.raises(ValueError, match="no such file \\(eval.inception_weights\\)"):
        load_fid_inception(tmp_path / "missing.pth")
    wrong = tmp_path / "wrong.pth"
    torch.save({"fc.weight": torch.zeros(3)}, wrong)
    with pytest.raises(ValueError, match="not the FID Inception weights"):
        load_fid_inception(wrong)


def test_without_a_weights_option_the_published_weights_are_fetched_and_their_sha256_checked(
        tmp_path, weights_file, monkeypatch):
    """pytorch-fid's file by URL into the data cache; the 8 hex digits of its name start its SHA-256."""
    prefix = hashlib.sha256(weights_file.read_bytes()).hexdigest()[:8]
    monkeypatch.setenv(DATA_HOME_VARIABLE, str(tmp_path / "cache"))
    with FileServer(weights_file.parent) as host:
        for checksum, fetched in ((f"sha256:{'0' * 8}", False), (f"sha256:{prefix}", True)):
            monkeypatch.setattr(inception, "FID_INCEPTION", Published("weights", (RemoteFile(
                "pt_inception.pth", checksum, (f"{host.url}/{weights_file.name}",)),), (host.url,)))
            if not fetched:
                with pytest.raises(DownloadError, match="checksum mismatch: sha256"):
                    inception.fid_inception_weights(None)
                continue
            path = inception.fid_inception_weights(None)
    assert path == tmp_path / "cache" / "weights" / "pt_inception.pth" and host.requests[weights_file.name] == 2
    assert load_fid_inception(path).fc.out_features == 1008
    assert inception.fid_inception_weights(str(weights_file)) == weights_file  # a local file is used as it is


@pytest.mark.slow
def test_image_folder_trial_is_scored_on_inception_features(tmp_path, weights_file):
    folder = write_image_folder(tmp_path / "faces", count=24)  # 12 held back, 12 as the reference
    spec = load_spec(SEARCH_SPACES / "dropout.yaml", [
        f"trial.dataset={{name: image_folder, path: {folder}, image_size: 32, channels: 3}}",
        f"trial.eval.inception_weights={weights_file}", "trial.eval.samples=12", "trial.train.steps=4",
        "trial.train.eval_every=4", "trial.train.batch_size=8", "trial.model.width=8",
    ])

    class Keep:
        def report(self, step, metrics, images, checkpoint):
            self.metrics, self.images = metrics, images

    kept = Keep()
    train(spec.trial, kept)
    assert {"fid", "kid", "precision", "recall", "inception_score", "inception_score_sd"} <= set(kept.metrics)
    assert "modes" not in kept.metrics and 1.0 <= kept.metrics["inception_score"] <= 1008
    assert kept.images["samples"].ndim == 3
