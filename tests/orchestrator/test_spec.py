"""Spec loading: every malformed spec fails with one line naming the file, the field path and why."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator import spec as spec_mod
from orchestrator.spec import SpecError, SweepSpec, from_dict, load, parse_overrides
from trainers.config import TrainConfig

REPO = Path(__file__).resolve().parents[2]
SEARCH_SPACES = sorted((REPO / "search_spaces").glob("*.yaml"))

HAS_DATA = importlib.util.find_spec("trainers.data") is not None
HAS_FID = importlib.util.find_spec("trainers.metrics") is not None

BASE: dict[str, Any] = {"name": "t", "search": {"algorithm": "random", "num_samples": 1}}


def _with(path: str, value: Any, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """A copy of ``base`` with ``value`` set at the dotted ``path`` (creating sections)."""
    out = json.loads(json.dumps(base if base is not None else BASE))
    node = out
    parts = path.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return out


def _images(folder: Path, n: int) -> Path:
    """``n`` real (tiny) PNG files in ``folder``: the spec lists them, nothing decodes them."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new("RGB", (4, 4), (i % 256, 0, 0)).save(folder / f"{i:05d}.png")
    return folder


def _write(tmp_path: Path, content: str | dict[str, Any], name: str = "bad_spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False))
    return path


# (id, spec as dict or raw YAML text, expected field path ("" = file-level), reason words)
MALFORMED: list[tuple[str, str | dict[str, Any], str, tuple[str, ...]]] = [
    ("unknown_top_key", _with("epochz", 3), "epochz", ("unknown key 'epochz'", "allowed")),
    (
        "unknown_nested_key",
        _with("train.epochz", 3),
        "train.epochz",
        ("unknown key", "did you mean 'epochs'"),
    ),
    ("wrong_type_int", _with("train.epochs", "many"), "train.epochs", ("must be an integer",)),
    ("bool_is_not_int", _with("train.batch_size", True), "train.batch_size", ("must be an integer",)),
    ("wrong_type_float", _with("train.lr", "fast"), "train.lr", ("must be a number",)),
    ("wrong_type_bool", _with("train.ema", "maybe"), "train.ema", ("true or false",)),
    ("section_not_mapping", _with("train", [1, 2]), "train", ("must be a mapping",)),
    ("empty_grid", _with("search.params.conv_dim", {"grid": []}), "search.params.conv_dim.grid", ("empty",)),
    (
        "empty_choice",
        _with("search.params.optimizer", {"choice": []}),
        "search.params.optimizer.choice",
        ("empty",),
    ),
    ("lr_zero_in_train", _with("train.lr", 0.0), "train.lr", ("lr must be > 0",)),
    ("lr_negative_in_train", _with("train.lr", -0.1), "train.lr", ("lr must be > 0, got -0.1",)),
    (
        "lr_loguniform_low",
        _with("search.params.lr", {"loguniform": [-0.1, 1e-3]}),
        "search.params.lr.loguniform[0]",
        ("lr must be > 0",),
    ),
    (
        "loguniform_low_ge_high",
        _with("search.params.lr", {"loguniform": [1e-3, 1e-4]}),
        "search.params.lr.loguniform",
        ("low must be < high",),
    ),
    (
        "loguniform_three_values",
        _with("search.params.lr", {"loguniform": [1e-4, 1e-3, 1e-2]}),
        "search.params.lr.loguniform",
        ("[low, high]",),
    ),
    (
        "loguniform_zero_low_on_unit_field",
        _with("search.params.d_dropout", {"loguniform": [0.0, 0.5]}),
        "search.params.d_dropout.loguniform[0]",
        ("must be > 0",),
    ),
    ("conv_dim_model", _with("model.conv_dim", 48), "model.conv_dim", ("power of two >= 8, got 48",)),
    (
        "conv_dim_grid",
        _with("search.params.conv_dim", {"grid": [16, 48]}),
        "search.params.conv_dim.grid[1]",
        ("power of two",),
    ),
    (
        "conv_dim_randint",
        _with("search.params.conv_dim", {"randint": [16, 64]}),
        "search.params.conv_dim.randint",
        ("cannot use randint",),
    ),
    (
        "image_size_48",
        _with("data.image_size", 48),
        "data.image_size",
        ("image_size must be 32 or 64, got 48",),
    ),
    (
        "metric_asha_cannot_see",
        _with("scheduler.metric", "accuracy"),
        "scheduler.metric",
        ("'accuracy' is not reported", "ASHA can see: fid1k_rand, kid1k_rand"),
    ),
    (
        "kid_metric_without_kid",
        _with("metrics.kid", False, _with("scheduler.metric", "kid")),
        "scheduler.metric",
        ("metrics.kid is false", "fid1k_rand"),
    ),
    (
        "full_metric_wrong_protocol",
        _with("scheduler.metric", "fid10k"),
        "scheduler.metric",
        ("not reported",),
    ),
    ("folder_without_path", _with("data.source", "folder"), "data.path", ("path is required",)),
    (
        "nonexistent_path",
        _with("data", {"source": "folder", "path": "/no/such/dir/anywhere"}),
        "data.path",
        ("path does not exist: /no/such/dir/anywhere",),
    ),
    ("path_with_synthetic", _with("data.path", "."), "data.path", ("not used by source synthetic",)),
    ("bad_source", _with("data.source", "imagenet"), "data.source", ("must be one of",)),
    ("negative_gpus", _with("resources.gpus_per_trial", -1), "resources.gpus_per_trial", ("must be >= 0",)),
    (
        "fractional_gpus_above_one",
        _with("resources.gpus_per_trial", 1.5),
        "resources.gpus_per_trial",
        ("whole",),
    ),
    ("zero_cpus", _with("resources.cpus_per_trial", 0), "resources.cpus_per_trial", ("must be > 0",)),
    (
        "max_concurrent_zero",
        _with("resources.max_concurrent", 0),
        "resources.max_concurrent",
        ("must be >= 1",),
    ),
    ("num_samples_zero", _with("search.num_samples", 0), "search.num_samples", ("must be >= 1",)),
    ("bad_algorithm", _with("search.algorithm", "bayes"), "search.algorithm", ("must be one of", "'optuna'")),
    (
        "grid_algorithm_loguniform",
        _with("search", {"algorithm": "grid", "params": {"lr": {"loguniform": [1e-4, 1e-3]}}}),
        "search.params.lr.loguniform",
        ("algorithm grid takes only grid params",),
    ),
    (
        "unknown_search_param",
        _with("search.params.lrr", {"grid": [1e-4]}),
        "search.params.lrr",
        ("unknown search parameter 'lrr'", "did you mean 'lr'"),
    ),
    (
        "unknown_param_kind",
        _with("search.params.lr", {"grdi": [1e-4]}),
        "search.params.lr.grdi",
        ("unknown key 'grdi'", "grid, choice"),
    ),
    (
        "two_param_kinds",
        _with("search.params.lr", {"grid": [1e-4], "choice": [1e-3]}),
        "search.params.lr",
        ("exactly one of", "grid and choice"),
    ),
    (
        "param_not_a_list",
        _with("search.params.lr", {"grid": 1e-4}),
        "search.params.lr.grid",
        ("must be a list",),
    ),
    (
        "optimizer_not_in_enum_choice",
        _with("search.params.optimizer", {"choice": ["adam", "adamw"]}),
        "search.params.optimizer.choice[1]",
        ("must be one of", "'adamw'"),
    ),
    (
        "uniform_on_int_field",
        _with("search.params.batch_size", {"uniform": [16, 64]}),
        "search.params.batch_size.uniform",
        ("cannot use uniform",),
    ),
    (
        "uniform_on_literal_field",
        _with("search.params.precision", {"uniform": [0, 1]}),
        "search.params.precision.uniform",
        ("cannot use uniform",),
    ),
    (
        "uniform_high_out_of_range",
        _with("search.params.d_dropout", {"uniform": [0.0, 1.0]}),
        "search.params.d_dropout.uniform[1]",
        ("must be in [0, 1)",),
    ),
    ("bad_precision", _with("train.precision", "fp8"), "train.precision", ("must be one of",)),
    ("bad_device", _with("train.device", "gpu0"), "train.device", ("device must be",)),
    ("beta_out_of_range", _with("train.beta2", 1.0), "train.beta2", ("must be in [0, 1)",)),
    ("nan_lr", "name: t\ntrain: {lr: .nan}\n", "train.lr", ("finite",)),
    ("mode_max", _with("scheduler.mode", "max"), "scheduler.mode", ("must be one of",)),
    ("reduction_factor_one", _with("scheduler.reduction_factor", 1), "scheduler.reduction_factor", ("> 1",)),
    (
        "grace_beyond_epochs",
        _with("scheduler.grace_period", 9, _with("train.epochs", 3)),
        "scheduler.grace_period",
        ("grace_period must be <=",),
    ),
    ("samples_one", _with("metrics.samples", 1), "metrics.samples", ("must be >= 2",)),
    ("bad_backbone", _with("metrics.backbone", "vgg"), "metrics.backbone", ("must be one of",)),
    (
        "weights_with_rand",
        _with("metrics.weights", "/tmp"),
        "metrics.weights",
        ("only apply to backbone inception",),
    ),
    ("negative_time_budget", _with("time_budget_s", -5), "time_budget_s", ("must be > 0",)),
    ("missing_name", {"seed": 1}, "name", ("name is required",)),
    ("bad_name_chars", _with("name", "my sweep/1"), "name", ("may only contain",)),
    ("name_not_string", _with("name", 5), "name", ("must be a string",)),
    ("yaml_syntax_error", "name: t\ntrain: {epochs: 3\n", "", ("not valid YAML", "line")),
    (
        "yaml_duplicate_key",
        "name: t\ntrain:\n  lr: 1.0e-4\n  lr: 2.0e-4\n",
        "",
        ("duplicate key 'lr'", "line 4"),
    ),
    ("empty_file", "", "", ("empty",)),
    ("comments_only", "# nothing here\n", "", ("empty",)),
    ("top_level_list", "- name: t\n", "", ("must be a mapping", "a list")),
    ("top_level_scalar", "just a string\n", "", ("must be a mapping",)),
    # fields added for faults (issue 11) and decisions (issue 10)
    (
        "negative_max_failures",
        _with("resources.max_failures", -1),
        "resources.max_failures",
        ("must be >= 0",),
    ),
    ("checkpoint_every_zero", _with("checkpoint.every", 0), "checkpoint.every", ("must be >= 1",)),
    (
        "checkpoint_keep_zero",
        _with("checkpoint.num_to_keep", 0),
        "checkpoint.num_to_keep",
        ("must be >= 1",),
    ),
    ("checkpoint_unknown_key", _with("checkpoint.evry", 2), "checkpoint.evry", ("did you mean 'every'",)),
    (
        "bad_scheduler_type",
        _with("scheduler.type", "pbt"),
        "scheduler.type",
        ("must be one of", "'hyperband'"),
    ),
    ("bad_signal", _with("scheduler.signal", "mean"), "scheduler.signal", ("must be one of", "'smoothed'")),
    ("smoothing_one", _with("scheduler.smoothing", 1.0), "scheduler.smoothing", ("must be in (0, 1)",)),
    ("startup_trials_zero", _with("search.startup_trials", 0), "search.startup_trials", ("must be >= 1",)),
    (
        "seed_negative_in_grid",
        _with("search.params.seed", {"grid": [0, -1]}),
        "search.params.seed.grid[1]",
        ("seed must be >= 0",),
    ),
    (
        "seed_uniform",
        _with("search.params.seed", {"uniform": [0, 3]}),
        "search.params.seed.uniform",
        ("cannot use uniform",),
    ),
    ("final_samples_one", _with("metrics.final_samples", 1), "metrics.final_samples", (">= 2",)),
    ("final_top_k_negative", _with("metrics.final_top_k", -1), "metrics.final_top_k", ("must be >= 0",)),
    ("storage_uri_without_location", _with("storage", "s3://"), "storage", ("names no location",)),
    # what `run` would reject seconds later (issue 12)
    (
        "absurd_count",
        _with("data.count", 10_000_000_000),
        "data.count",
        ("count must be in [1, 1000000], got 10000000000",),
    ),
    (
        "batch_above_count",
        _with("data.count", 32),
        "train.batch_size",
        ("batch_size must be <= the dataset size (data.count is 32), got 64",),
    ),
    (
        "batch_above_limit",
        _with("data", {"count": 500, "limit": 40}),
        "train.batch_size",
        ("data.limit is 40",),
    ),
    (
        "searched_batch_above_count",
        _with("search.params.batch_size", {"grid": [16, 256]}, _with("data.count", 100)),
        "search.params.batch_size.grid[1]",
        ("batch_size must be <= the dataset size", "got 256"),
    ),
    (
        "randint_batch_above_count",
        _with("search.params.batch_size", {"randint": [8, 512]}, _with("data.count", 100)),
        "search.params.batch_size.randint[1]",
        ("dataset size",),
    ),
]


@pytest.mark.parametrize(
    ("content", "path", "reasons"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
def test_malformed_spec_names_file_field_and_reason(
    tmp_path: Path, content: str | dict[str, Any], path: str, reasons: tuple[str, ...]
) -> None:
    file = _write(tmp_path, content)
    with pytest.raises(SpecError) as info:
        load(file)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{file}: "), message
    if path:
        assert message.startswith(f"{file}: {path}: "), message
    for reason in reasons:
        assert reason in message, message


def test_table_is_big_enough() -> None:
    assert len(MALFORMED) >= 25
    assert isinstance(SpecError("x"), ValueError)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"nope\.yaml: file not found"):
        load(tmp_path / "nope.yaml")
    with pytest.raises(SpecError, match="is a directory"):
        load(tmp_path)


def test_binary_file(tmp_path: Path) -> None:
    file = tmp_path / "bin.yaml"
    file.write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(SpecError, match=r"bin\.yaml: not a text file"):
        load(file)


@pytest.mark.parametrize(
    ("overrides", "reasons"),
    [
        ({"train.epochz": "2"}, ("override 'train.epochz'", "unknown key 'epochz'", "allowed")),
        ({"trian.epochs": "2"}, ("override 'trian.epochs'", "unknown key 'trian'")),
        ({"name.x": "2"}, ("override 'name.x'", "name is not a section")),
        ({"train..epochs": "2"}, ("override 'train..epochs'", "dotted field path")),
        ({"train.epochs": "[1, 2"}, ("override 'train.epochs'", "not valid YAML")),
        ({"train.epochs": "two"}, ("train.epochs: epochs must be an integer",)),
    ],
)
def test_bad_override(tmp_path: Path, overrides: dict[str, str], reasons: tuple[str, ...]) -> None:
    file = _write(tmp_path, BASE, "ok.yaml")
    with pytest.raises(SpecError) as info:
        load(file, overrides)
    assert str(info.value).startswith(f"{file}: ")
    for reason in reasons:
        assert reason in str(info.value)


def test_overrides_are_yaml_scalars_at_dotted_paths(tmp_path: Path) -> None:
    folder = _images(tmp_path / "imgs", 64)  # the default batch of 64 must fit
    file = _write(tmp_path, BASE, "ok.yaml")
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
    file = _write(tmp_path, "name: t\nmodel:\ntrain: {lr: 1e-4}\nsearch: {params: }\n")
    spec = load(file)
    assert spec.train.lr == 1e-4 and isinstance(spec.train.lr, float)
    assert spec.model.conv_dim == 32 and spec.search.params == {}


@pytest.mark.parametrize("path", SEARCH_SPACES, ids=[p.name for p in SEARCH_SPACES])
def test_search_spaces_load(path: Path, tmp_path: Path) -> None:
    raw = yaml.safe_load(path.read_text())
    overrides = None if raw["data"]["source"] == "synthetic" else {"data.path": str(tmp_path)}
    spec = load(path, overrides, check_data=False)  # the specs' shape; data checks are tested below
    assert spec.source_path == path.resolve()
    assert spec.name == path.stem
    assert spec.grid_size() >= 2
    resolved = spec.resolved()
    assert json.loads(json.dumps(resolved)) == resolved
    assert resolved["scheduler"]["metric"] in spec.metric_names
    # the resolved spec is itself a valid spec and resolves to the same thing
    again = from_dict(resolved, "resolved", check_data=False)
    assert again.resolved() == resolved and again.spec_hash == spec.spec_hash
    assert spec.base_train_config().image_size == spec.data.image_size


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


def _demo(tmp_path: Path, **changes: Any) -> SweepSpec:
    raw = yaml.safe_load((REPO / "search_spaces" / "demo.yaml").read_text())
    for dotted, value in changes.items():
        raw = _with(dotted.replace("__", "."), value, raw)
    return load(_write(tmp_path, raw, "demo_copy.yaml"))


def test_spec_hash_stable_and_sensitive(tmp_path: Path) -> None:
    a = load(REPO / "search_spaces" / "demo.yaml")
    b = load(REPO / "search_spaces" / "demo.yaml")
    assert a.spec_hash == b.spec_hash and len(a.spec_hash) == 16
    assert _demo(tmp_path, train__epochs=3).spec_hash != a.spec_hash
    # the default tracking store is absolute (Ray trials run in other directories)
    assert a.tracking_uri.startswith("sqlite:///") and a.tracking_uri.endswith("/mlruns/mlflow.db")
    assert Path(a.tracking_uri.removeprefix("sqlite:///")).is_absolute()
    assert a.experiment == "demo" and Path(a.storage).is_absolute()


def test_base_train_config_is_the_trials_starting_point() -> None:
    # (SweepSpec.trial_config was removed: trials merge sampled values in orchestrator.trial, and
    # every sampled value was validated with the field's own type when the spec was loaded)
    spec = load(REPO / "search_spaces" / "demo.yaml")
    base = spec.base_train_config()
    assert isinstance(base, TrainConfig)
    assert (base.conv_dim, base.epochs, base.image_size, base.seed) == (16, 15, 32, 0)
    assert (base.ema, base.ema_kimg) == (TrainConfig.ema, TrainConfig.ema_kimg)  # one set of defaults


def test_grid_size_counts(tmp_path: Path) -> None:
    spec = _demo(
        tmp_path,
        search={
            "algorithm": "optuna",
            "num_samples": 3,
            "params": {
                "conv_dim": {"grid": [8, 16, 32]},
                "batch_size": {"grid": [16, 32]},
                "lr": {"loguniform": [1e-4, 1e-3]},
                "optimizer": {"choice": ["adam", "sgd"]},
            },
        },
    )
    assert spec.grid_size() == 3 * 2 * 3
    assert _demo(tmp_path, search={"algorithm": "grid"}).grid_size() == 1


def test_search_params_for_space(tmp_path: Path) -> None:
    spec = _demo(
        tmp_path,
        search={
            "params": {
                "lr": {"loguniform": [1, 2]},
                "epochs": {"randint": [2, 6]},
                "lr_d": {"choice": [None, 1e-4]},
                "ema": {"grid": [True, False]},
            }
        },
    )
    params = spec.search_params()
    assert params["lr"].kind == "loguniform" and params["lr"].values == [1.0, 2.0]
    assert all(isinstance(v, float) for v in params["lr"].values)
    assert params["epochs"].kind == "randint" and params["epochs"].values == [2, 6]
    assert params["lr_d"].values == [None, 1e-4]
    assert params["ema"].kind == "grid"
    assert spec.max_t() == 6  # the most epochs any trial can run (randint bounds are inclusive)


def test_scheduler_metric_resolution(tmp_path: Path) -> None:
    assert _demo(tmp_path, scheduler__metric="kid").asha_metric == "kid1k_rand"
    assert _demo(tmp_path, scheduler__metric="fid1k_rand").asha_metric == "fid1k_rand"
    spec = _demo(tmp_path, metrics={"backbone": "inception", "samples": 10000, "kid": False})
    assert spec.metric_names == ("fid10k",) and spec.asha_metric == "fid10k"
    assert _demo(tmp_path, metrics__samples=500).metric_names == ("fid500_rand", "kid500_rand")


def test_max_t(tmp_path: Path) -> None:
    assert _demo(tmp_path, scheduler__max_t=3).max_t() == 3
    spec = _demo(tmp_path, train__report_every_images=2000)
    assert spec.max_t() == 15 * 4  # 8000 synthetic images / 2000 per report, 15 epochs
    assert spec.max_t(images=4000) == 15 * 2


def test_metric_name_rule_is_trainers_metrics() -> None:
    if not HAS_FID:
        pytest.skip("trainers.metrics not present yet")
    from trainers.metrics import metric_names

    for backbone in ("rand", "inception"):
        for samples in (500, 1000, 2000, 1234, 10000, 50000):
            spec = from_dict({"name": "t", "metrics": {"backbone": backbone, "samples": samples}})
            assert spec.metric_names == metric_names(backbone, samples)


def test_data_config(tmp_path: Path) -> None:
    if not HAS_DATA:
        pytest.skip("trainers.data not present yet")
    from trainers.data import DataConfig

    cfg = _demo(tmp_path, seed=7).data_config()
    assert isinstance(cfg, DataConfig)
    assert (cfg.source, cfg.image_size, cfg.count, cfg.seed, cfg.path) == ("synthetic", 32, 8000, 7, None)
    folder = tmp_path / "imgs"
    folder.mkdir()
    celeba = load(REPO / "search_spaces" / "celeba.yaml", {"data.path": str(folder)}, check_data=False)
    cfg = celeba.data_config()
    assert (cfg.source, cfg.path, cfg.image_size) == ("celeba", str(folder.resolve()), 64)


def test_relative_data_path_resolves_against_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "data" / "img_align_celeba").mkdir(parents=True)
    _images(tmp_path / "data" / "img_align_celeba", 128)  # the largest searched batch must fit
    monkeypatch.chdir(tmp_path)
    spec = load(REPO / "search_spaces" / "celeba.yaml")
    assert spec.data.path == str((tmp_path / "data" / "img_align_celeba").resolve())
    assert spec.storage == str((tmp_path / "runs").resolve())


def test_frozen(tmp_path: Path) -> None:
    spec = load(REPO / "search_spaces" / "demo.yaml")
    with pytest.raises(ValueError):
        spec.train.epochs = 9  # type: ignore[misc]


def test_new_field_defaults() -> None:
    spec = from_dict({"name": "t"})
    assert spec.resources.max_failures == 2
    assert (spec.checkpoint.every, spec.checkpoint.num_to_keep) == (None, 2)
    assert (spec.scheduler.signal, spec.scheduler.smoothing) == ("best", 0.5)
    assert spec.search.startup_trials is None
    assert (spec.metrics.final_samples, spec.metrics.final_top_k) == (None, 3)
    hb = from_dict({"name": "t", "scheduler": {"type": "hyperband", "signal": "smoothed", "smoothing": 0.8}})
    assert (hb.scheduler.type, hb.scheduler.signal, hb.scheduler.smoothing) == ("hyperband", "smoothed", 0.8)
    assert from_dict(hb.resolved()).resolved() == hb.resolved()


def test_seed_is_searchable_for_replicates() -> None:
    spec = from_dict({"name": "t", "search": {"params": {"seed": {"grid": [0, 1, 2]}}}})
    assert spec.search_params()["seed"].values == [0, 1, 2]
    assert spec.grid_size() == 3
    spec = from_dict({"name": "t", "search": {"params": {"seed": {"randint": [0, 99]}}}})
    assert spec.search_params()["seed"].kind == "randint"


def test_tracking_uri_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.example:5000")
    assert from_dict({"name": "t"}).tracking_uri == "http://mlflow.example:5000"
    assert spec_mod.default_tracking_uri() == "http://mlflow.example:5000"
    explicit = from_dict({"name": "t", "tracking": {"uri": "sqlite:///x.db"}})
    assert explicit.tracking_uri == "sqlite:///x.db"  # the spec wins over the environment
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    assert from_dict({"name": "t"}).tracking_uri.startswith("sqlite:///")


@pytest.mark.parametrize("uri", ["s3://bucket/runs", "gs://bucket/a/b", "file:///tmp/gansweep-runs"])
def test_storage_uri_kept_as_is(uri: str) -> None:
    spec = from_dict({"name": "t", "storage": uri})
    assert spec.storage == spec.storage_uri == uri
    assert spec.resolved()["storage"] == uri


def test_storage_plain_path_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    spec = from_dict({"name": "t", "storage": "out/runs"})
    assert spec.storage_uri == str((tmp_path / "out" / "runs").resolve())
    assert spec.storage_path == Path(spec.storage_uri) and spec.storage_is_local
    assert from_dict({"name": "t", "storage": "file:///tmp/r"}).storage_path == Path("/tmp/r")
    remote = from_dict({"name": "t", "storage": "s3://b/r"})
    assert not remote.storage_is_local
    with pytest.raises(ValueError, match="remote"):
        remote.storage_path  # noqa: B018


def test_check_data_off_previews_a_spec_without_its_data(tmp_path: Path) -> None:
    missing = {"data.path": str(tmp_path / "not_here")}
    with pytest.raises(SpecError, match="data.path: path does not exist"):
        load(REPO / "search_spaces" / "celeba.yaml", missing)
    spec = load(REPO / "search_spaces" / "celeba.yaml", missing, check_data=False)
    assert spec.data.path == str((tmp_path / "not_here").resolve())
    assert from_dict(spec.resolved(), check_data=False).resolved() == spec.resolved()


def test_empty_folder_or_zip_is_refused_before_run(tmp_path: Path) -> None:
    import zipfile

    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not an image")
    with pytest.raises(SpecError) as info:
        from_dict(_with("data", {"source": "folder", "path": str(empty)}), "s.yaml")
    assert str(info.value).startswith("s.yaml: data.path: ") and "no images" in str(info.value)
    archive = tmp_path / "empty.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("readme.txt", "nothing")
    with pytest.raises(SpecError, match=r"s\.yaml: data\.path: .*no images"):
        from_dict(_with("data", {"source": "zip", "path": str(archive)}), "s.yaml")
    with pytest.raises(SpecError, match=r"s\.yaml: data\.path: .*not a folder"):
        from_dict(_with("data", {"source": "folder", "path": str(archive)}), "s.yaml")
    # the same specs preview without their data
    assert from_dict(_with("data", {"source": "folder", "path": str(empty)}), check_data=False).data.path


def test_batch_larger_than_listed_images(tmp_path: Path) -> None:
    folder = _images(tmp_path / "faces", 10)
    spec = _with("data", {"source": "folder", "path": str(folder)}, _with("train.batch_size", 16))
    with pytest.raises(SpecError) as info:
        from_dict(spec, "s.yaml")
    assert str(info.value) == (
        f"s.yaml: train.batch_size: batch_size must be <= the dataset size "
        f"(10 images listed in {folder.resolve()}), got 16"
    )
    assert from_dict(spec, check_data=False).train.batch_size == 16  # unknown size: not judged
    ok = from_dict(_with("train.batch_size", 10, spec))
    assert ok.data.known_size == (10, f"images listed in {folder.resolve()}")
    assert ok.max_t() == ok.train.epochs


def test_real_celeba_zip_is_listed_not_decoded(celeba_dir: Path) -> None:
    real = {"data.path": str(celeba_dir / "img_align_celeba_1k.zip")}
    spec = load(REPO / "search_spaces" / "celeba.yaml", real)
    assert spec.data.known_size is not None and spec.data.known_size[0] == 1000
    limited = {**real, "data.limit": "100"}
    with pytest.raises(SpecError, match=r"search\.params\.batch_size\.choice\[2\]: .*data\.limit is 100\b"):
        load(REPO / "search_spaces" / "celeba.yaml", limited)
