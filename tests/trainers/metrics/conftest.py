"""Fixtures of the metric tests: one torch thread, a test-written Inception weights file, CelebA faces."""

from __future__ import annotations

import io
import urllib.error
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from trainers import metrics


@pytest.fixture(autouse=True)
def one_thread() -> object:
    """One torch thread: on a shared 2-core box two OpenMP threads competing with other processes
    run the feature nets several times slower (measured 0.3 s -> 3-5 s per 1000 images)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)



@pytest.fixture(scope="module")
def fake_inception(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    net = metrics.fid_inception_net()
    for m in net.modules():  # sane scales so features are finite and varied; BN buffers not the defaults
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight)
        elif isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.8, 1.2)
            m.bias.data.uniform_(-0.1, 0.1)
    path = tmp_path_factory.mktemp("weights") / metrics.INCEPTION_FILE
    torch.save(net.state_dict(), path)
    return path


@pytest.fixture
def no_weights_anywhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty torch hub dir, no env var and downloads failing as if offline."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.delenv(metrics.WEIGHTS_ENV, raising=False)

    def offline(url: str, dst: str, hash_prefix: str | None = None, progress: bool = True) -> None:
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    return tmp_path / "torch_home" / "hub" / "checkpoints" / metrics.INCEPTION_FILE



@pytest.fixture(scope="module")
def celeba2k(celeba_dir: Path) -> np.ndarray:
    """2000 real 64x64 CelebA faces, decoded straight from the zip (independent of trainers.data)."""
    with zipfile.ZipFile(celeba_dir / "celeba64_30k.zip") as z:
        names = sorted(n for n in z.namelist() if n.endswith(".jpg"))[:2000]
        return np.stack([np.asarray(Image.open(io.BytesIO(z.read(n))).convert("RGB")) for n in names])
