"""Inception path: weights resolution, one-line errors, parity with pytorch-metrics."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from trainers import metrics

# test-written Inception weights are random, so loading them warns that FIDs are not comparable
pytestmark = pytest.mark.filterwarnings("ignore:.*does not start with 6726825d:UserWarning")


def test_inception_from_explicit_path_matches_pytorch_fid(
    fake_inception: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pytorch_fid.inception as pfi

    model = metrics.load_backbone("inception", weights=str(fake_inception))
    assert model.name == "inception" and model.dim == 2048
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        feats = model(x)
    assert feats.shape == (2, 2048) and torch.isfinite(feats).all()
    # same forward pass as pytorch-fid's InceptionV3 (pool3 block, bilinear resize to 299)
    monkeypatch.setattr(pfi, "fid_inception_v3", lambda: model.net)
    ref = pfi.InceptionV3([3], resize_input=True, normalize_input=False).eval()
    with torch.no_grad():
        torch.testing.assert_close(feats, ref(x)[0].flatten(1), rtol=1e-4, atol=1e-5)


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
