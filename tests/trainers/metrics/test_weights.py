"""Inception path: weights resolution, one-line errors, parity with pytorch-metrics."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from trainers import metrics

# test-written Inception weights are random, so loading them warns that FIDs are not comparable
pytestmark = pytest.mark.filterwarnings("ignore:.*does not start with 6726825d:UserWarning")


def test_inception_matches_pytorch_fids_own_network(fake_inception: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """pytorch-fid builds its OWN network (``fid_inception_v3``) and loads the same weights file the way it
    loads the published one, from torch hub's cache: nothing of ours is on the reference path."""
    import pytorch_fid.inception as pfi

    hub = tmp_path / "torch_home" / "hub" / "checkpoints" / metrics.INCEPTION_FILE
    hub.parent.mkdir(parents=True)
    shutil.copy(fake_inception, hub)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))

    def no_download(*args: object, **kwargs: object) -> None:
        raise AssertionError("pytorch-fid tried to download: the cached file was not used")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    ref = pfi.InceptionV3([3], resize_input=True, normalize_input=False).eval()
    model = metrics.load_backbone("inception", weights=str(fake_inception))
    assert model.name == "inception" and model.dim == 2048
    images = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    ours = metrics.extract_features(model, images)
    with torch.no_grad():  # pytorch-fid's own input path: uint8 -> [0, 1] -> its normalisation
        theirs = pfi.InceptionV3([3], resize_input=True, normalize_input=True).eval()
        theirs.load_state_dict(ref.state_dict())
        x01 = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
        ref_feats = theirs(x01)[0].flatten(1).numpy()
    assert ours.shape == (4, 2048) and np.isfinite(ours).all() and ours.std() > 0
    np.testing.assert_allclose(ours, ref_feats, rtol=1e-4, atol=1e-5)


def test_inception_from_env_and_torch_hub_cache(fake_inception: Path, no_weights_anywhere: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(metrics.WEIGHTS_ENV, str(fake_inception))
    assert metrics.resolve_inception_weights(None) == fake_inception
    monkeypatch.delenv(metrics.WEIGHTS_ENV)
    hub = no_weights_anywhere
    hub.parent.mkdir(parents=True)
    hub.symlink_to(fake_inception)
    assert metrics.resolve_inception_weights(None) == hub
    model = metrics.load_backbone("inception")
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 64, 64)).shape == (1, 2048)


def test_inception_missing_and_offline_says_what_to_do(no_weights_anywhere: Path) -> None:
    with pytest.raises(metrics.FIDWeightsError) as err:
        metrics.load_backbone("inception")
    msg = str(err.value)
    assert "\n" not in msg
    assert metrics.INCEPTION_FILE in msg and str(no_weights_anywhere) in msg and metrics.INCEPTION_URL in msg
    assert "name resolution" in msg


def test_inception_explicit_path_missing(tmp_path: Path) -> None:
    with pytest.raises(metrics.FIDWeightsError, match="not found at .*nope.pth"):
        metrics.resolve_inception_weights(str(tmp_path / "nope.pth"))


def test_inception_download_checks_hash(no_weights_anywhere: Path, fake_inception: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    seen = {}

    def fake_download(url: str, dst: str, hash_prefix: str | None = None, progress: bool = True) -> None:
        seen.update(url=url, hash_prefix=hash_prefix)
        Path(dst).write_bytes(fake_inception.read_bytes())

    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    assert metrics.resolve_inception_weights(None) == no_weights_anywhere
    assert seen == {"url": metrics.INCEPTION_URL, "hash_prefix": "6726825d"}
    assert no_weights_anywhere.is_file()


def test_inception_corrupt_files(tmp_path: Path, fake_inception: Path) -> None:
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(fake_inception.read_bytes()[:5000])
    with pytest.raises(metrics.FIDWeightsError, match="unreadable"):
        metrics.load_backbone("inception", weights=str(truncated))
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"this is not a checkpoint" * 100)
    with pytest.raises(metrics.FIDWeightsError, match="unreadable"):
        metrics.load_backbone("inception", weights=str(garbage))
    wrong = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, wrong)
    with pytest.raises(metrics.FIDWeightsError, match="not the FID Inception-v3 state dict"):
        metrics.load_backbone("inception", weights=str(wrong))
