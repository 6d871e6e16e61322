"""Feature networks, one interface: ``load_backbone(name) -> nn.Module`` with ``.name``, ``.dim`` and
``.weights_id``; input float NCHW in [-1, 1], output ``(N, dim)`` features.

* ``"inception"``: the standard FID network, Inception-v3 pool3 (2048-d) with the TF-ported weights used by
  pytorch-fid, torch-fidelity and torchmetrics. The architecture is pytorch-fid's (torchvision Inception3
  with its FID blocks swapped in); inputs are resized to 299x299 bilinearly as those libraries do. FIDs
  from it are comparable with published ones.
* ``"rand"``: a fixed-seed randomly initialised conv net (random embeddings, Naeem et al. 2020). It needs
  no download, is identical on every machine (weights come from numpy's legacy ``RandomState``, whose
  stream numpy guarantees not to change) and is fast on a CPU. It is *not* comparable with Inception
  FIDs, nor across image resolutions (it sees images at their native size, no resize, so 32 px and
  64 px runs get different statistics; the cache key and the sweep's fixed resolution keep them apart).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from trainers.metrics.weights import file_hash, load_inception_state
from trainers.pixels import to_float
from trainers.registry import BACKBONES  # name -> Backbone(loader, weights): the one registry


class RandBackbone(nn.Module):
    """Fixed-seed random conv net that ranks face structure first and colour second (version 2).

    Measured with the disturbance ladder (``benchmarks/bench_backbone_ladder.py``, 1000 vs 1000 CelebA
    faces), version 1 (globally pooled responses of a 4-stage RGB conv pyramid, 240-d) scored a 13/255
    warm colour cast 288x the real-vs-real floor but upside-down faces 3.9x: a bag of patches that sees
    colour, not layout. Version 2, block by block as the same measurement chose it:

    * Offset-free input: the image goes to an opponent space (luminance + two chroma axes at half weight)
      and every first-layer filter is zero-mean *per input channel* with replicate padding, so a global
      per-channel offset (white balance, brightness) cancels exactly in the first layer.
    * Layout: both stages are average-pooled on a 2x2 grid (where eyes, mouth and hair are, not only
      whether they occur); stage 2 is also pooled globally (its texture statistics: noise, blur). Deeper
      stages were measured too and dropped: on 1000 images their features are mostly estimation noise
      (an 8x8x128 stage had a floor 400x the first stage's and the weakest ratio on every rung).
    * Colour, explicitly: per-image channel means and standard deviations (6 dims), so colour still
      counts, by a known and small amount.
    * Each block is scaled (:data:`BLOCK_SCALES`) so that its real-vs-real floor is about the same (the
      geometric mean of the 32 and 64 px floors): unscaled, the noisiest block would dominate the FID.

    Weights come from numpy's legacy ``RandomState`` (a frozen stream); He-normal, LeakyReLU 0.2.
    """

    name = "rand"
    version = 2
    cpu_chunk = 32  # small CPU micro-batches keep the full-resolution activations in cache (2-4x faster)
    # measured block scales (see the class docstring); colour carries 1.4x the weight of a conv block
    BLOCK_SCALES = {"colour": 0.86, "grid1": 2.3, "grid2": 1.37, "global2": 5.6}

    def __init__(self, seed: int = 0, widths: tuple[int, int] = (16, 32), chroma: float = 0.5) -> None:
        super().__init__()
        rng = np.random.RandomState(seed)  # legacy stream: numpy guarantees it never changes
        convs = []
        c_in = 3
        for i, c_out in enumerate(widths):
            conv = nn.Conv2d(c_in, c_out, 3, stride=1 if i == 0 else 2, padding=1, bias=False,
                             padding_mode="replicate")
            std = np.sqrt(2.0 / (c_in * 9))
            w = rng.standard_normal(conv.weight.shape).astype(np.float32) * np.float32(std)
            if i == 0:
                w -= w.mean(axis=(2, 3), keepdims=True)
            conv.weight.data = torch.from_numpy(w)
            conv.weight.requires_grad_(False)
            convs.append(conv)
            c_in = c_out
        self.convs = nn.ModuleList(convs)
        opponent = torch.tensor([[1 / 3, 1 / 3, 1 / 3], [0.5, 0.0, -0.5], [-0.25, 0.5, -0.25]])
        opponent[1:] *= chroma
        self.register_buffer("opponent", opponent)
        self.dim = 6 + 4 * widths[0] + 5 * widths[1]
        self.seed = seed
        digest = hashlib.sha256(b"".join(c.weight.numpy().tobytes() for c in convs)).hexdigest()[:12]
        # version, architecture and the weights' own hash: if the design or a numpy release's stream ever
        # changed, caches and protocols would not mix
        arch = "-".join(map(str, widths)) + f"-c{chroma:g}"
        self.weights_id = f"rand-v{self.version}-s{seed}-{arch}-{digest}"
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type == "cpu" and x.shape[0] > self.cpu_chunk:
            return torch.cat([self.forward(part) for part in x.split(self.cpu_chunk)])
        scale = self.BLOCK_SCALES
        feats = [scale["colour"] * torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3))], dim=1)]
        x = torch.einsum("dc,nchw->ndhw", self.opponent, x)
        x = F.leaky_relu(self.convs[0](x), 0.2)
        feats.append(scale["grid1"] * F.adaptive_avg_pool2d(x, 2).flatten(1))
        x = F.leaky_relu(self.convs[1](x), 0.2)
        feats.append(scale["grid2"] * F.adaptive_avg_pool2d(x, 2).flatten(1))
        feats.append(scale["global2"] * x.mean(dim=(2, 3)))
        return torch.cat(feats, dim=1)


def fid_inception_net() -> nn.Module:
    """pytorch-fid's FID Inception-v3 architecture, built without downloading anything."""
    import torchvision
    from pytorch_fid.inception import FIDInceptionA, FIDInceptionC, FIDInceptionE_1, FIDInceptionE_2

    net = torchvision.models.inception_v3(num_classes=1008, aux_logits=False, weights=None,
                                          init_weights=False)
    net.Mixed_5b = FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = FIDInceptionE_1(1280)
    net.Mixed_7c = FIDInceptionE_2(2048)
    return net


class InceptionBackbone(nn.Module):
    """Inception-v3 pool3 features (2048-d), exactly pytorch-fid's ``InceptionV3([3])`` forward pass.

    Input is already in [-1, 1] (what the TF weights expect), so no (0,1)->(-1,1) rescale is applied.
    """

    name = "inception"
    dim = 2048

    def __init__(self, net: nn.Module, weights_id: str) -> None:
        super().__init__()
        self.net = net
        self.weights_id = weights_id
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = self.net
        x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        x = n.maxpool1(n.Conv2d_2b_3x3(n.Conv2d_2a_3x3(n.Conv2d_1a_3x3(x))))
        x = n.maxpool2(n.Conv2d_4a_3x3(n.Conv2d_3b_1x1(x)))
        for block in ("Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
                      "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c"):
            x = getattr(n, block)(x)
        return F.adaptive_avg_pool2d(x, 1).flatten(1)


def load_inception(weights: str | os.PathLike[str] | None) -> InceptionBackbone:
    net = fid_inception_net()
    _, weights_id = load_inception_state(weights, net)
    return InceptionBackbone(net, weights_id=weights_id)


def load_rand(weights: str | os.PathLike[str] | None) -> RandBackbone:
    return RandBackbone()  # its weights come from a fixed seed: no file


def check_backbone(name: str) -> None:
    """Raise the one-line error for a backbone name that is not in :data:`BACKBONES`."""
    if name not in BACKBONES:
        raise ValueError(f"unknown FID backbone {name!r} (choose from {', '.join(BACKBONES)})")


def load_backbone(name: str, weights: str | os.PathLike[str] | None = None, device: str | torch.device = "cpu"
                  ) -> nn.Module:
    """A feature network in eval mode on ``device``: ``forward(x float NCHW [-1,1]) -> (N, .dim)``.

    ``weights`` is only used by ``inception`` (see :func:`resolve_inception_weights`). The module carries
    ``.name``, ``.dim`` and ``.weights_id`` (what the real-statistics cache key depends on).
    """
    check_backbone(name)
    return BACKBONES[name].load()(weights).to(device).eval()


def weights_id(name: str, weights: str | os.PathLike[str] | None = None) -> str:
    """What identifies a backbone's weights (cache keys, protocols) without building the network when
    avoidable: a weights file's sha256 prefix (Inception), else the net's own id (rand: seeds, widths)."""
    check_backbone(name)
    if BACKBONES[name].weights:
        return file_hash(BACKBONES[name].resolve_weights(weights))[:16]
    return load_backbone(name, weights).weights_id


@contextmanager
def full_fp32() -> Iterator[None]:
    """TF32 off for matmuls and convolutions, restored afterwards.

    cuDNN allows TF32 by default (10-bit mantissa): Inception features on an Ampere+ GPU would then differ
    from the fp32 reference features the published FIDs were computed with. The training loop may well
    want TF32 (speed), so the previous settings are put back on exit.
    """
    matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn


@torch.no_grad()
def features(model: nn.Module, images: torch.Tensor, device: str | torch.device) -> torch.Tensor:
    """Features of a float [-1, 1] NCHW batch, returned as float32 on the CPU (computed in full fp32)."""
    with full_fp32():
        return model(images.to(device=device, dtype=torch.float32)).float().cpu()


def extract_features(model: nn.Module, images: np.ndarray, batch_size: int = 250,
                     device: str | torch.device = "cpu") -> np.ndarray:
    """Features (N, dim) float32 of uint8 (N,S,S,3) images; a convenience for tests and benchmarks."""
    model.eval()
    out = [features(model, to_float(images[i:i + batch_size]), device)
           for i in range(0, len(images), batch_size)]
    return torch.cat(out).numpy()
