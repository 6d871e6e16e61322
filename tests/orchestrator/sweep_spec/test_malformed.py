"""Every malformed spec fails with one line naming the file, the field path and why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from spec_helpers import BASE
from spec_helpers import with_value as _with
from spec_helpers import write_spec as _write

from orchestrator.sweep_spec import SpecError, load

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
    ("conv_dim_model", _with("model.conv_dim", 48), "model.conv_dim", ("power of two, got 48",)),
    ("conv_dim_below_sweep_min", _with("model.conv_dim", 4), "model.conv_dim", ("must be >= 8, got 4",)),
    (  # a family's knob where the sweep trains another family (BASE's family: dcgan)
        "knob_of_another_family",
        _with("train.n_critic", 3),
        "train.n_critic",
        ("n_critic is a knob of family wgan_gp", "model.family is dcgan"),
    ),
    (
        "searched_knob_of_another_family",
        _with("search.params.gp_lambda", {"uniform": [1.0, 10.0]}),
        "search.params.gp_lambda",
        ("gp_lambda is a knob of family wgan_gp",),
    ),
    (
        "knob_out_of_its_familys_bounds",
        _with("train.label_smoothing", 1.5),
        "train.label_smoothing",
        ("label_smoothing must be in [0, 1), got 1.5",),
    ),
    (
        "knob_of_an_unsearched_family",
        _with("train.label_smoothing", 0.1, _with("search.params.family", {"grid": ["wgan_gp", "sngan"]})),
        "train.label_smoothing",
        ("knob of family dcgan", "the searched families are wgan_gp, sngan"),
    ),
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
        _with("scheduler.metric", "accuracy", _with("scheduler.type", "asha")),
        "scheduler.metric",
        ("'accuracy' is not reported", "ASHA can see: fid1k_rand, kid1k_rand"),
    ),
    (
        "metric_default_scheduler_cannot_see",
        _with("scheduler.metric", "accuracy"),
        "scheduler.metric",
        ("'accuracy' is not reported", "successive halving can see: fid1k_rand, kid1k_rand"),
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
    ("mode_max_for_fid", _with("scheduler.mode", "max"), "scheduler.mode",
     ("fid", "better when lower", "leave mode out")),
    ("mode_sideways", _with("scheduler.mode", "up"), "scheduler.mode", ("'min' or 'max'",)),
    ("unknown_metric_kind", _with("metrics.kinds", ["fid", "recall"]), "metrics.kinds[1]",
     ("'fid', 'kid' or 'prec'",)),
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
        ("only apply to a backbone that loads a file (inception)", "rand needs none"),
    ),
    ("negative_time_budget", _with("time_budget_s", -5), "time_budget_s", ("must be > 0",)),
    ("missing_name", {"seed": 1}, "name", ("name is required",)),
    ("bad_name_chars", _with("name", "my sweep/1"), "name", ("must be an identifier", "'my sweep/1'")),
    # a name is one folder under `storage`: never a path out of it (issue 24)
    ("name_dotdot", _with("name", ".."), "name", ("must be an identifier", "no '..'", "got '..'")),
    ("name_dot", _with("name", "."), "name", ("must be an identifier", "got '.'")),
    ("name_dotdot_inside", _with("name", "a..b"), "name", ("no '..'",)),
    ("name_slash", _with("name", "../up"), "name", ("must be an identifier",)),
    ("name_backslash", _with("name", "a\\b"), "name", ("must be an identifier",)),
    ("name_leading_dash", _with("name", "-rf"), "name", ("starting with a letter or digit",)),
    (
        "loguniform_one_value",
        _with("search.params.lr", {"loguniform": [1e-4]}),
        "search.params.lr.loguniform",
        ("takes [low, high], got 1 value", "grid: [0.0001]"),
    ),
    (
        "uniform_no_value",
        _with("search.params.d_dropout", {"uniform": []}),
        "search.params.d_dropout.uniform",
        ("takes [low, high], got 0 values",),
    ),
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
    ("final_seeds_zero", _with("metrics.final_seeds", 0), "metrics.final_seeds", ("must be >= 1",)),
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
        # a section set to null would drop the file's section for defaults (issue 24)
        ({"data": "null"}, ("override 'data'", "data is a section and cannot be null", "data.FIELD=VALUE")),
        ({"model": "~"}, ("override 'model'", "cannot be null")),
        ({"train": ""}, ("override 'train'", "cannot be null")),
    ],
)
def test_bad_override(tmp_path: Path, overrides: dict[str, str], reasons: tuple[str, ...]) -> None:
    file = _write(tmp_path, BASE, "ok.yaml")
    with pytest.raises(SpecError) as info:
        load(file, overrides)
    assert str(info.value).startswith(f"{file}: ")
    for reason in reasons:
        assert reason in str(info.value)
