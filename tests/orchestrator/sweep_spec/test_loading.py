"""Loading specs: overrides, YAML details, the shipped search spaces, paths resolved at load time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from spec_helpers import BASE, REPO, SEARCH_SPACES, demo_with, image_folder, write_spec

from orchestrator.sweep_spec import SpecError, from_dict, load, parse_overrides
from orchestrator.trial import merged_config


def test_overrides_are_yaml_scalars_at_dotted_paths(tmp_path: Path) -> None:
    folder = image_folder(tmp_path / "imgs", 64)  # the default batch of 64 must fit
    file = write_spec(tmp_path, BASE, "ok.yaml")
    spec = load(
        file,
        {
            "data.source": "folder",
            "data.path": str(folder),
            "train.epochs": "2",
            "train.lr": "1e-4",  # YAML 1.1 would read this as a string; the spec loader reads a float
            "search.params.conv_dim.grid": "[8, 16]",
            "resources.gpus_per_trial": "0.5",
        },
    )
    assert spec.data.path == str(folder.resolve())
    assert spec.train.epochs == 2 and spec.train.lr == 1e-4
    assert spec.search.params["conv_dim"].values == [8, 16]
    assert spec.resources.gpus_per_trial == 0.5
    assert parse_overrides(["data.path=/x=y", "train.epochs=2"]) == {"data.path": "/x=y", "train.epochs": "2"}
    with pytest.raises(SpecError, match="KEY=VALUE"):
        parse_overrides(["data.path"])


def test_float_without_dot_and_null_sections(tmp_path: Path) -> None:
    file = write_spec(tmp_path, "name: t\nmodel:\ntrain: {lr: 1e-4}\nsearch: {params: }\n")
    spec = load(file)
    assert spec.train.lr == 1e-4 and isinstance(spec.train.lr, float)
    assert spec.model.conv_dim == 32 and spec.search.params == {}


@pytest.mark.parametrize("path", SEARCH_SPACES, ids=[p.name for p in SEARCH_SPACES])
def test_search_spaces_load(path: Path, tmp_path: Path) -> None:
    raw = yaml.safe_load(path.read_text())
    synthetic = raw["data"]["source"] == "synthetic"
    overrides = None if synthetic else {"data.path": str(tmp_path)}
    spec = load(path, overrides, check_data=synthetic)  # real data: the shape here, data checks elsewhere
    assert spec.source_path == path.resolve()
    assert spec.name == path.stem
    assert spec.grid_size() >= 2
    resolved = spec.resolved()
    assert json.loads(json.dumps(resolved)) == resolved
    assert resolved["scheduler"]["metric"] in spec.metric_names
    # the resolved spec is itself a valid spec and resolves to the same thing
    again = from_dict(resolved, "resolved", check_data=False)
    assert again.resolved() == resolved and again.spec_hash == spec.spec_hash
    assert spec.base_train_values()["image_size"] == spec.data.image_size
    for family in spec.families:  # every family the spec trains gets a valid config from it
        assert merged_config(spec.base_train_values(), {"family": family}).family == family


def test_search_space_names() -> None:
    names = {p.stem for p in SEARCH_SPACES}
    assert {
        "demo",
        "celeba",
        "dcgan64_convdim",
        "adam_vs_rmsprop",
        "batch_precision",
        "dcgan32_label_smoothing",
        "wgan_gp_5k",
    } <= names


def test_demo_spec_shape() -> None:
    spec = load(REPO / "search_spaces" / "demo.yaml")
    assert spec.data.source == "synthetic" and spec.data.image_size == 32
    assert spec.grid_size() == 4
    assert spec.metrics.backbone == "rand"
    assert spec.asha_metric == "fid1k_rand"
    assert spec.metric_names == ("fid1k_rand", "kid1k_rand")
    assert spec.resources.gpus_per_trial == 0


def test_data_config(tmp_path: Path) -> None:
    from trainers.data import DataConfig

    cfg = demo_with(tmp_path, seed=7).data_config()
    assert isinstance(cfg, DataConfig)
    assert (cfg.source, cfg.image_size, cfg.count, cfg.seed, cfg.path) == ("synthetic", 32, 4000, 7, None)
    folder = tmp_path / "imgs"
    folder.mkdir()
    celeba = load(REPO / "search_spaces" / "celeba.yaml", {"data.path": str(folder)}, check_data=False)
    cfg = celeba.data_config()
    assert (cfg.source, cfg.path, cfg.image_size) == ("celeba", str(folder.resolve()), 64)


def test_relative_data_path_resolves_against_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "data" / "img_align_celeba").mkdir(parents=True)
    image_folder(tmp_path / "data" / "img_align_celeba", 128)  # the largest searched batch must fit
    monkeypatch.chdir(tmp_path)
    spec = load(REPO / "search_spaces" / "celeba.yaml")
    assert spec.data.path == str((tmp_path / "data" / "img_align_celeba").resolve())
    assert spec.storage == str((tmp_path / "runs").resolve())


def test_key_value_flags_share_one_parser() -> None:
    """`--set` and `gansweep submit --env` parse through spec.loading.parse_pairs (issue 22)."""
    from orchestrator.sweep_spec.loading import parse_pairs

    assert parse_pairs(("A=1", "B=x=y"), "--env", "NAME=VALUE", "A=1") == {"A": "1", "B": "x=y"}
    with pytest.raises(SpecError, match=r"--env 'A': expected NAME=VALUE, e.g. A=1"):
        parse_pairs(("A",), "--env", "NAME=VALUE", "A=1")
