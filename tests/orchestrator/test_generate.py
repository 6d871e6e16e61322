"""`gansweep generate`: the best (or a named) trial's generator from MLflow, seeded and never clobbering.

Fast tests log a real (untrained, tiny) generator the way trial.py does to a hand-made store; the
slow test generates from one tiny real sweep (conftest.py's `tiny_sweep`, shared with other modules).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from e2e_helpers import LoggedSweep, run_cli, store, sweep_runs
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient
from PIL import Image

from orchestrator import generate as gen
from orchestrator.cli import main
from orchestrator.record import names
from orchestrator.record.names import (
    PARENT,
    TAG_KIND,
    TAG_METRIC,
    TAG_STATUS,
    TAG_SWEEP,
    TAG_SWEPT,
    TAG_TRIAL,
)
from trainers.config import TrainConfig
from trainers.models import build_generator

CFG = TrainConfig(image_size=32, conv_dim=8, z_dim=16, device="cpu")


@pytest.fixture(scope="module")
def fake_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, str]]:
    """Sweep 'faces' with two trials (FID 5 and 3, each with weights) and one failed trial without."""
    tmp = tmp_path_factory.mktemp("gen_store")
    (tmp / "mlruns").mkdir()
    uri = f"sqlite:///{tmp / 'mlruns' / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("faces")
    parent = client.create_run(exp, run_name="faces", tags={
        TAG_SWEEP: "faces", TAG_KIND: "sweep", TAG_METRIC: "fid1k_rand", TAG_SWEPT: "conv_dim"})
    ids = {"sweep": parent.info.run_id}
    for name, fid, weights in (("t_00000", 5.0, True), ("t_00001", 3.0, True), ("t_00002", None, False)):
        run = client.create_run(exp, run_name=name, tags={
            PARENT: parent.info.run_id, TAG_SWEEP: "faces", TAG_KIND: "trial", TAG_TRIAL: name,
            TAG_STATUS: "completed" if weights else "failed", TAG_METRIC: "fid1k_rand",
            TAG_SWEPT: "conv_dim"})
        rid = run.info.run_id
        client.log_param(rid, "conv_dim", "8")
        if fid is not None:
            client.log_batch(rid, metrics=[Metric("fid1k_rand", fid, 0, 1)])
        if weights:
            torch.manual_seed(len(ids))  # two different generators
            model = build_generator(CFG)
            path = tmp / name / "generator.pt"
            path.parent.mkdir()
            torch.save({"config": CFG.to_dict(), "generator": model.state_dict()}, path)
            client.log_artifact(rid, str(path), "model")
        ids[name] = rid
    return uri, ids


def invoke(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def test_same_seed_same_png_other_seed_other_png(fake_store: Any, tmp_path: Path) -> None:
    uri, ids = fake_store
    for name, seed in (("a.png", "1"), ("b.png", "1"), ("c.png", "2")):
        result = invoke("generate", "faces", "-n", "16", "-o", str(tmp_path / name), "--seed", seed,
                        "--store", uri)
        assert result.exit_code == 0, result.output
        assert "best trial 00001 " in result.output  # lowest FID with weights
    a, b, c = (tmp_path / n for n in ("a.png", "b.png", "c.png"))
    assert a.read_bytes() == b.read_bytes()
    assert pixels(a).shape == (4 * 34 + 2, 4 * 34 + 2, 3)  # 4x4 grid of 32 px with 2 px padding
    assert not np.array_equal(pixels(a), pixels(c))
    assert pixels(a).std() > 1


def test_targets_sweep_name_parent_id_and_child_id(fake_store: Any, tmp_path: Path) -> None:
    uri, ids = fake_store
    client = MlflowClient(tracking_uri=uri)
    assert gen.resolve_target(client, "faces").run_id == ids["t_00001"]
    assert gen.resolve_target(client, ids["sweep"]).run_id == ids["t_00001"]
    assert gen.resolve_target(client, ids["t_00000"]).run_id == ids["t_00000"]
    out = [tmp_path / f"{k}.png" for k in ("best", "other")]
    invoke("generate", "faces", "-n", "4", "-o", str(out[0]), "--store", uri)
    invoke("generate", ids["t_00000"], "-n", "4", "-o", str(out[1]), "--store", uri)
    assert out[0].read_bytes() != out[1].read_bytes(), "a different trial's generator"
    model, cfg = gen.load_generator(client, ids["t_00000"])
    assert cfg == CFG and not model.training


def test_individual_pngs_and_interpolation_strip(fake_store: Any, tmp_path: Path) -> None:
    uri, _ = fake_store
    folder = tmp_path / "faces"
    result = invoke("generate", "faces", "-n", "5", "-o", str(folder), "--individual", "--store", uri)
    assert result.exit_code == 0, result.output
    files = sorted(folder.glob("*.png"))
    assert [f.name for f in files] == [f"{i:03d}.png" for i in range(5)]
    assert all(pixels(f).shape == (32, 32, 3) for f in files)
    grid = tmp_path / "grid.png"
    invoke("generate", "faces", "-n", "5", "-o", str(grid), "--store", uri)
    first_tile = pixels(grid)[2:34, 2:34]
    assert np.array_equal(first_tile, pixels(files[0])), "individual images are the grid's tiles"

    walk = tmp_path / "walk.png"
    result = invoke("generate", "faces", "-n", "8", "--interpolate", "--anchors", "3", "-o", str(walk),
                    "--store", uri)
    assert result.exit_code == 0, result.output
    strip = pixels(walk)
    assert strip.shape == (36, 8 * 34 + 2, 3)
    tiles = [strip[2:34, 2 + 34 * i: 34 + 34 * i] for i in range(8)]
    assert not np.array_equal(tiles[0], tiles[-1])
    steps = [np.abs(tiles[i + 1].astype(int) - tiles[i]).mean() for i in range(7)]
    assert max(steps) < np.abs(tiles[-1].astype(int) - tiles[0]).mean() * 2, "a walk, not random jumps"


def test_slerp_keeps_ends_and_norm() -> None:
    a, b = gen.latents(2, 64, seed=3)
    assert torch.allclose(gen.slerp(a, b, 0.0), a, atol=1e-5)
    assert torch.allclose(gen.slerp(a, b, 1.0), b, atol=1e-5)
    mid = gen.slerp(a, b, 0.5)
    assert abs(mid.norm() - (a.norm() + b.norm()) / 2) < 0.15 * a.norm()
    walk = gen.latent_walk(gen.latents(3, 8, seed=0), 9)
    assert walk.shape == (9, 8)


def test_never_overwrites_without_force(fake_store: Any, tmp_path: Path) -> None:
    uri, _ = fake_store
    out = tmp_path / "faces.png"
    out.write_bytes(b"precious")
    result = invoke("generate", "faces", "-o", str(out), "--store", uri)
    assert result.exit_code == 2
    assert result.output.strip() == f"gansweep: error: {out} already exists; pass --force to overwrite"
    assert out.read_bytes() == b"precious"
    folder = tmp_path / "ind"
    folder.mkdir()
    (folder / "001.png").write_bytes(b"x")
    clash = invoke("generate", "faces", "-n", "3", "-o", str(folder), "--individual", "--store", uri)
    assert clash.exit_code == 2 and "001.png already exists" in clash.output
    assert invoke("generate", "faces", "-o", str(out), "--store", uri, "--force").exit_code == 0
    assert out.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuch"], "no sweep named or with run id 'nosuch'"),
        (["faces", "-o", "x.jpg"], "must be a .png file"),
        (["faces", "-n", "0"], "-n must be at least 1"),
    ],
)
def test_user_errors(fake_store: Any, tmp_path: Path, args: list[str], message: str) -> None:
    uri, ids = fake_store
    result = CliRunner().invoke(main, ["generate", *args, "--store", uri], catch_exceptions=False)
    assert result.exit_code == 2 and message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_trial_without_weights_and_missing_store(fake_store: Any, tmp_path: Path) -> None:
    uri, ids = fake_store
    result = invoke("generate", ids["t_00002"], "-o", str(tmp_path / "f.png"), "--store", uri)
    assert result.exit_code == 2 and "has no model/generator.pt" in result.output
    db = tmp_path / "none" / "mlflow.db"
    result = invoke("generate", "faces", "-o", str(tmp_path / "f.png"), "--store", f"sqlite:///{db}")
    assert result.exit_code == 2 and "no MLflow store at" in result.output and not db.exists()


@pytest.mark.slow
def test_real_sweep_best_generator_is_reproducible(tiny_sweep: LoggedSweep, tmp_path: Path) -> None:
    """On conftest.py's `tiny_sweep` (its store at <cwd>/mlruns, where `generate` looks by default)."""
    assert tiny_sweep.returncode == 0, tiny_sweep.log[-3000:] + tiny_sweep.err[-3000:]
    cwd = tiny_sweep.root  # the shared sweep stays as it is: every image goes to tmp_path
    digests = []
    for name, seed in (("a.png", "7"), ("b.png", "7"), ("c.png", "8")):
        done = run_cli(["generate", "tiny", "-n", "16", "-o", str(tmp_path / name), "--seed", seed], cwd=cwd,
                       timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        digests.append(hashlib.sha256((tmp_path / name).read_bytes()).hexdigest())
    assert digests[0] == digests[1] != digests[2]
    image = pixels(tmp_path / "a.png")
    assert image.shape == (138, 138, 3) and image.std() > 5
    again = run_cli(["generate", "tiny", "-o", str(tmp_path / "a.png")], cwd=cwd, timeout=300)
    assert again.returncode == 2 and "already exists" in again.stderr
    client = store(cwd)
    parent, children = sweep_runs(client, "tiny")
    # The best trial that has weights of its last epoch (ASHA may have stopped the best-scoring
    # trial at a rung where its last generator was not its best, leaving no model/generator.pt).
    def has_weights(run_id: str) -> bool:
        return names.GENERATOR in {a.path for a in client.list_artifacts(run_id, names.MODEL_DIR)}

    with_weights = [c for c in children if has_weights(c.info.run_id)]
    assert with_weights, "no trial logged model/generator.pt"
    best = min(with_weights, key=lambda c: min(m.value for m in client.get_metric_history(c.info.run_id,
                                                                                        "fid128_rand")))
    assert f"run {best.info.run_id})" in done.stdout, done.stdout
