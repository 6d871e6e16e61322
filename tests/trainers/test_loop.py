"""The training loop: learning, reporting cadence, metric/grid plumbing, exact resume, divergence."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from trainers.config import TrainConfig
from trainers.loop import ema_beta, grid_noise, train
from trainers.models import build_generator, images_to_grid
from trainers.results import EpochReport, TrainingDiverged


def _blobs(n: int, size: int = 32, seed: int = 0) -> np.ndarray:
    """Deterministic coloured blobs on a coloured background (uint8 NHWC): tiny stand-in dataset."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    bg = rng.integers(0, 256, (n, 1, 1, 3))
    fg = rng.integers(0, 256, (n, 1, 1, 3))
    cy, cx = rng.uniform(0.3, 0.7, (2, n, 1, 1)) * size
    r = rng.uniform(0.15, 0.3, (n, 1, 1)) * size
    mask = ((yy - cy) ** 2 + (xx - cx) ** 2 < r**2)[..., None]
    return np.where(mask, fg, bg).astype(np.uint8)


def _synthetic(tmp_path: Path, n: int) -> np.ndarray:
    """trainers.data's synthetic faces when available, else blobs."""
    try:
        from trainers.data import DataConfig, prepare
    except ImportError:  # pragma: no cover - data module not there yet
        return _blobs(n)
    return prepare(DataConfig("synthetic", image_size=32, count=n), cache_dir=tmp_path, progress=False).load(
        mmap=False
    )


def _tiny(**values: object) -> TrainConfig:
    base = {"image_size": 32, "conv_dim": 8, "batch_size": 32, "epochs": 2, "grid_size": 4}
    base.update(values)
    return TrainConfig(**base)  # type: ignore[arg-type]


def _moment_distance(x: torch.Tensor, real: torch.Tensor) -> float:
    """Per-channel mean and std distance between two image sets (NCHW, [-1, 1])."""
    dm = (x.mean((0, 2, 3)) - real.mean((0, 2, 3))).abs().sum()
    ds = (x.std((0, 2, 3)) - real.std((0, 2, 3))).abs().sum()
    return float(dm + ds)


class _Recorder:
    """A Metric that records every call and returns the moment distance to the data."""

    names = ("moments",)

    def __init__(self, real: torch.Tensor) -> None:
        self.real = real
        self.calls = 0
        self.shapes: list[tuple[int, ...]] = []

    def __call__(self, sample):  # type: ignore[no-untyped-def]
        self.calls += 1
        x = sample(128)
        assert not x.requires_grad and x.dtype == torch.float32 and x.abs().max() <= 1.0
        levels = (x + 1) * 127.5  # quantised like the uint8 real images (issue 15)
        assert torch.allclose(levels, levels.round(), atol=1e-3)
        self.shapes.append(tuple(x.shape))
        return {"moments": _moment_distance(x, self.real)}


class _Keep:
    """A report callback that keeps every report and the states it asked for inside the callback."""

    def __init__(self) -> None:
        self.reports: list[EpochReport] = []
        self.states: list[dict] = []
        self.generators: list[dict] = []

    def __call__(self, r: EpochReport) -> None:
        self.reports.append(r)
        self.states.append(r.resume_state())
        self.generators.append(r.generator_state())


def _as_float(data: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(data).float().div(127.5).sub(1).permute(0, 3, 1, 2)


def test_generator_gets_closer_to_the_data(tmp_path: Path) -> None:
    data = _synthetic(tmp_path, 512)
    real = _as_float(data)
    cfg = TrainConfig(image_size=32, conv_dim=16, epochs=6, batch_size=32, lr=5e-4, grid_size=16)
    torch.manual_seed(cfg.seed)  # the loop initialises G from this seed: reproduce the untrained G
    g0 = build_generator(cfg).eval()
    with torch.no_grad():
        at_init = _moment_distance(g0(torch.randn(256, cfg.z_dim)), real)
    metric = _Recorder(real)
    history = train(cfg, data, metric, lambda r: None)
    assert len(history) == 6 and metric.calls == 6
    final = history[-1]["moments"]
    assert final < 0.6 * at_init, (at_init, [h["moments"] for h in history])
    assert all(np.isfinite(h["d_loss"]) and np.isfinite(h["g_loss"]) for h in history)


def test_reports_once_per_epoch() -> None:
    reports: list[EpochReport] = []
    history = train(_tiny(epochs=3), _blobs(100), None, reports.append)
    assert [r.step for r in reports] == [1, 2, 3]
    assert [r.epoch for r in reports] == [1.0, 2.0, 3.0]
    assert [r.images_seen for r in reports] == [100, 200, 300]  # the partial last batch is trained on
    assert history == [r.scalars() for r in reports]
    assert all(r.epoch_s > 0 and r.img_per_s > 0 and r.metrics == {} and r.eval_s == 0 for r in reports)


def test_reports_every_n_images_and_metric_every() -> None:
    reports: list[EpochReport] = []
    metric = _Recorder(_as_float(_blobs(64)))
    cfg = _tiny(batch_size=64, report_every_images=100, metric_every=2)
    train(cfg, _blobs(256), metric, reports.append)
    # steps end at 64, 128, ... ; a report at the first step reaching each multiple of 100, and one at the end
    assert [r.images_seen for r in reports] == [128, 256, 320, 448, 512]
    assert [r.epoch for r in reports] == [0.5, 1.0, 1.25, 1.75, 2.0]
    # metric at reports 1, 3, 5 (and always at the last one); its last value repeated in between
    assert metric.calls == 3 and metric.shapes == [(128, 3, 32, 32)] * 3
    assert [r.eval_s > 0 for r in reports] == [True, False, True, False, True]
    assert reports[1].metrics == reports[0].metrics and reports[3].metrics == reports[2].metrics
    assert all("moments" in r.scalars() for r in reports)


@pytest.mark.parametrize("ema", [False, True])
def test_grid_uses_fixed_noise_and_ema_generator(ema: bool) -> None:
    keep = _Keep()
    cfg = _tiny(ema=ema, grid_size=6)
    train(cfg, _blobs(64), None, keep)
    reports = keep.reports
    for r, state, gen in zip(reports, keep.states, keep.generators, strict=True):
        assert r.grid is not None and r.grid.dtype == np.uint8 and r.grid.ndim == 3 and r.grid.shape[2] == 3
        g = build_generator(cfg)
        g.load_state_dict(gen)
        with torch.no_grad():
            expected = images_to_grid(g.eval()(grid_noise(cfg)))
        np.testing.assert_array_equal(r.grid, expected)
        for k, v in state["ema" if ema else "G"].items():  # the evaluated generator's weights
            if "running" not in k and "num_batches" not in k:
                assert torch.equal(v, gen[k]), k
    assert not np.array_equal(reports[0].grid, reports[1].grid)  # the generator moved
    if ema:
        ck = keep.states[-1]
        assert any(not torch.equal(ck["ema"][k], ck["G"][k]) for k in ck["G"])


def test_the_first_report_carries_the_untrained_generators_grid() -> None:
    """MLflow's slider starts at step 0: the untrained G's grid, drawn without changing training."""
    data = _blobs(64)
    keep = _Keep()
    drawn = train(_tiny(grid_size=6, epochs=2), data, None, keep)
    first, *rest = keep.reports
    assert first.initial_grid is not None and first.initial_grid.shape == first.grid.shape
    assert not np.array_equal(first.initial_grid, first.grid), "epoch 1 moved the generator"
    assert all(r.initial_grid is None for r in rest)
    plain = train(_tiny(grid_size=0, epochs=2), data, None, _Keep())  # no grid at all: same training
    assert [h["d_loss"] for h in drawn] == [h["d_loss"] for h in plain]


def test_report_states_only_inside_the_callback() -> None:
    reports: list[EpochReport] = []
    train(_tiny(epochs=1), _blobs(32), None, reports.append)
    with pytest.raises(RuntimeError, match="inside the report callback"):
        reports[0].resume_state()


@pytest.mark.parametrize(
    "values",
    [
        {"family": "dcgan", "ema": True, "d_dropout": 0.2, "label_smoothing": 0.1},
        {"family": "wgan_gp", "n_critic": 3},
        {"family": "dcgan", "optimizer": "rmsprop", "precision": "bf16"},
    ],
)
def test_resume_continues_exactly(values: dict) -> None:
    data = _blobs(96)
    cfg = _tiny(epochs=3, report_every_images=80, **values)
    keep = _Keep()
    history = train(cfg, data, None, keep)
    full = keep.reports
    assert len(history) == 4  # at 96, 160, 256 and 288 images
    ck = keep.states[1]  # taken mid-epoch (160 images of 96-image epochs)
    assert ck["progress"]["stream"]["pos"] > 0
    ck = torch.load(_roundtrip(ck), weights_only=True)  # survives serialisation
    rest: list[EpochReport] = []
    resumed = train(cfg, data, None, rest.append, resume=ck)
    assert [r.step for r in rest] == [3, 4] and rest[0].initial_grid is None, "a resumed run has no step 0"
    for a, b in zip(history[2:], resumed, strict=True):
        assert (a["d_loss"], a["g_loss"], a["images_seen"]) == (b["d_loss"], b["g_loss"], b["images_seen"])
    np.testing.assert_array_equal(full[-1].grid, rest[-1].grid)


def _roundtrip(ck: dict) -> object:
    import io

    buf = io.BytesIO()
    torch.save(ck, buf)
    buf.seek(0)
    return buf


def test_resume_rejects_other_architecture() -> None:
    keep = _Keep()
    train(_tiny(epochs=1), _blobs(32), None, keep)
    with pytest.raises(ValueError, match="conv_dim=8"):
        train(_tiny(conv_dim=16), _blobs(32), None, lambda r: None, resume=keep.states[0])


@pytest.mark.parametrize("family", ["dcgan", "wgan_gp"])
def test_nan_raises_training_diverged(family: str) -> None:
    cfg = _tiny(family=family, optimizer="sgd", lr=1e6, epochs=5)
    with pytest.raises(TrainingDiverged) as err:
        train(cfg, _blobs(64), None, lambda r: None)
    assert re.fullmatch(r"[dg]_loss became (nan|inf) at epoch \d+ step \d+", str(err.value)), str(err.value)


def test_seeded_reproducible_and_caller_rng_untouched() -> None:
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = train(_tiny(), _blobs(64), None, lambda r: None)
    assert torch.equal(torch.get_rng_state(), before)
    b = train(_tiny(), _blobs(64), None, lambda r: None)
    c = train(_tiny(seed=1), _blobs(64), None, lambda r: None)
    assert [h["d_loss"] for h in a] == [h["d_loss"] for h in b]
    assert [h["d_loss"] for h in a] != [h["d_loss"] for h in c]


def test_memmap_input(tmp_path: Path) -> None:
    path = tmp_path / "d.npy"
    np.save(path, _blobs(64))
    a = train(_tiny(), np.load(path, mmap_mode="r"), None, lambda r: None)
    b = train(_tiny(), _blobs(64), None, lambda r: None)
    assert a == [dict(h, epoch_s=x["epoch_s"], img_per_s=x["img_per_s"]) for h, x in zip(b, a, strict=True)]


@pytest.mark.parametrize(
    "data",
    [
        np.zeros((4, 32, 32, 3), np.float32),
        np.zeros((4, 64, 64, 3), np.uint8),
        np.zeros((0, 32, 32, 3), np.uint8),
    ],
)
def test_bad_data_is_rejected(data: np.ndarray) -> None:
    with pytest.raises(ValueError):
        train(_tiny(), data, None, lambda r: None)


def test_evaluated_generator_has_its_own_batchnorm_statistics() -> None:
    """Issue 15: the EMA generator was sampled in eval mode with the live G's running statistics.

    Its eval-mode output must match what its own weights give with batch statistics over a large
    batch; with the stale (live G's) running statistics it does not."""
    keep = _Keep()
    cfg = _tiny(ema=True, epochs=3)
    train(cfg, _blobs(96), None, keep)
    state, gen = keep.states[-1], keep.generators[-1]
    z = torch.randn(1024, cfg.z_dim, generator=torch.Generator().manual_seed(5))
    g = build_generator(cfg)
    g.load_state_dict(gen)
    with torch.no_grad():
        reference = g.train()(z)  # batch statistics of the EMA weights themselves
        recalibrated = g.eval()(z)
        stale = {k: (state["G"][k] if ("running" in k or "num_batches" in k) else v) for k, v in gen.items()}
        g.load_state_dict(stale)
        old = g.eval()(z)
    good = (recalibrated - reference).abs().mean().item()
    bad = (old - reference).abs().mean().item()
    assert good < 0.02 and bad > 3 * good, (good, bad)


@pytest.mark.parametrize("family", ["dcgan", "wgan_gp", "sngan"])
def test_an_epoch_is_the_same_generator_training_for_every_family(family: str) -> None:
    """Issue 15: a WGAN-GP epoch had n_critic x fewer G steps; now every family has ceil(N/B) per epoch."""
    keep = _Keep()
    knobs = {"n_critic": 3} if family == "wgan_gp" else {}  # a knob of WGAN-GP only
    train(_tiny(family=family, batch_size=32, epochs=2, **knobs), _blobs(100), None, keep)
    assert [r.images_seen for r in keep.reports] == [100, 200]
    assert [s["progress"]["g_steps"] for s in keep.states] == [4, 8]
    d_steps = keep.states[-1]["opt_d"]["state"][0]["step"].item()
    assert d_steps == (24 if family == "wgan_gp" else 8)


def test_resume_applies_the_new_config_learning_rates() -> None:
    """A resumed (or PBT-exploited) trial trains with its config's lr/betas, not the checkpoint's."""
    keep = _Keep()
    train(_tiny(epochs=1), _blobs(32), None, keep)
    after = _Keep()
    cfg = _tiny(epochs=2, lr=1e-3, lr_d=3e-3, beta1=0.3)
    train(cfg, _blobs(32), None, after, resume=keep.states[0])
    groups = after.states[-1]["opt_g"]["param_groups"][0], after.states[-1]["opt_d"]["param_groups"][0]
    assert [(g["lr"], g["betas"]) for g in groups] == [(1e-3, (0.3, 0.999)), (3e-3, (0.3, 0.999))]


def test_ema_half_life_is_in_images_whatever_the_batch_size() -> None:
    seen = 10**6  # past the ramp-up
    for batch in (16, 64, 128):
        steps = int(10_000 / batch * 8) / 8  # 10 kimg of steps
        assert ema_beta(batch, seen, 10.0) ** steps == pytest.approx(0.5)
    assert ema_beta(16, seen, 10.0) ** 8 == pytest.approx(ema_beta(128, seen, 10.0))
    # ramp-up: early on the half-life is 5% of the images seen, not 10k images
    assert ema_beta(64, 20_000, 10.0) == pytest.approx(0.5 ** (64 / 1000))
