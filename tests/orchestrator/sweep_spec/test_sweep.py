"""SweepSpec's derived values and the fields the faults (issue 11) and decisions (issue 10) work added."""

from __future__ import annotations

from pathlib import Path

import pytest
from spec_helpers import REPO, demo_with

from orchestrator import sweep_spec as spec_mod
from orchestrator.sweep_spec import from_dict, load
from orchestrator.trial import merged_config
from trainers.config import TrainConfig


def test_spec_hash_stable_and_sensitive(tmp_path: Path) -> None:
    a = load(REPO / "search_spaces" / "demo.yaml")
    b = load(REPO / "search_spaces" / "demo.yaml")
    assert a.spec_hash == b.spec_hash and len(a.spec_hash) == 16
    assert demo_with(tmp_path, train__epochs=3).spec_hash != a.spec_hash
    # the default tracking store is absolute (Ray trials run in other directories)
    assert a.tracking_uri.startswith("sqlite:///") and a.tracking_uri.endswith("/mlruns/mlflow.db")
    assert Path(a.tracking_uri.removeprefix("sqlite:///")).is_absolute()
    assert a.experiment == "demo" and Path(a.storage).is_absolute()


def test_base_train_values_are_the_trials_starting_point() -> None:
    # trials merge their sampled values over these in orchestrator.trial.merged_config; every sampled
    # value was validated with the field's own type when the spec was loaded
    spec = load(REPO / "search_spaces" / "demo.yaml")
    base = merged_config(spec.base_train_values(), {})
    assert (base.conv_dim, base.epochs, base.image_size, base.seed) == (16, 6, 32, 0)
    defaults = TrainConfig.model_fields
    assert (base.ema, base.ema_kimg) == (defaults["ema"].default, defaults["ema_kimg"].default)  # one set
    assert spec.model.model_fields["conv_dim"].default == defaults["conv_dim"].default


def test_spec_sections_are_derived_from_train_config() -> None:
    """A field of TrainConfig marked for a section is in it, with its bounds: one definition."""
    from orchestrator.sweep_spec import ModelSpec, TrainSpec
    from trainers.config import section_of

    for section, model in (("model", ModelSpec), ("train", TrainSpec)):
        ours = {n for n, f in TrainConfig.model_fields.items() if section_of(f) == section}
        assert ours <= set(model.model_fields)
    assert {"label_smoothing", "gp_lambda", "n_critic"} <= set(TrainSpec.model_fields)  # the families' knobs


def test_a_sweep_mixing_families_gives_each_trial_its_own_knobs(tmp_path: Path) -> None:
    spec = demo_with(
        tmp_path,
        train__label_smoothing=0.1,
        train__n_critic=2,
        search={"algorithm": "random", "params": {"family": {"grid": ["dcgan", "wgan_gp"]},
                                                  "gp_lambda": {"uniform": [1.0, 10.0]}}},
    )
    assert spec.families == ("dcgan", "wgan_gp")
    base = spec.base_train_values()
    dcgan = merged_config(base, {"family": "dcgan", "gp_lambda": 5.0})
    wgan = merged_config(base, {"family": "wgan_gp", "gp_lambda": 5.0})
    assert dcgan.knobs.label_smoothing == 0.1 and "gp_lambda" not in dcgan.to_dict()
    assert (wgan.knobs.n_critic, wgan.knobs.gp_lambda) == (2, 5.0) and "label_smoothing" not in wgan.to_dict()


def test_grid_size_counts(tmp_path: Path) -> None:
    spec = demo_with(
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
    assert demo_with(tmp_path, search={"algorithm": "grid"}).grid_size() == 1


def test_search_params_for_space(tmp_path: Path) -> None:
    spec = demo_with(
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
    assert demo_with(tmp_path, scheduler__metric="kid").asha_metric == "kid1k_rand"
    assert demo_with(tmp_path, scheduler__metric="fid1k_rand").asha_metric == "fid1k_rand"
    spec = demo_with(tmp_path, metrics={"backbone": "inception", "samples": 10000, "kid": False})
    assert spec.metric_names == ("fid10k",) and spec.asha_metric == "fid10k"
    assert demo_with(tmp_path, metrics__samples=500).metric_names == ("fid500_rand", "kid500_rand")


def test_max_t(tmp_path: Path) -> None:
    assert demo_with(tmp_path, scheduler__max_t=3).max_t() == 3
    spec = demo_with(tmp_path, train__report_every_images=2000)
    assert spec.max_t() == 6 * 2  # 4000 synthetic images / 2000 per report, 6 epochs
    assert spec.max_t(images=6000) == 6 * 3


def test_metric_name_rule_is_trainers_metrics() -> None:
    from trainers.metrics import metric_names

    for backbone in ("rand", "inception"):
        for samples in (500, 1000, 2000, 1234, 10000, 50000):
            spec = from_dict({"name": "t", "metrics": {"backbone": backbone, "samples": samples}})
            assert spec.metric_names == metric_names(backbone, samples)


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
