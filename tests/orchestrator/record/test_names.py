"""The record's key rules: what becomes a metric, params flattening, `--set` flags."""

from __future__ import annotations

from orchestrator.record.names import BOOKKEEPING, best_key, chartable, flat_params, set_flags


def test_bookkeeping_stays_out_of_the_charts() -> None:
    result = {
        "epoch": 3.0, "images_seen": 768.0, "training_iteration": 3, "time_this_iter_s": 1.2, "timestamp": 17,
        "time_since_restore": 4.0, "final": 1.0, "node_id": "abc", "done": False, "grid_png": b"\x89PNG",
        "d_loss": 0.7, "g_loss": 1.9, "fid128_rand": 9.1, "kid128_rand": 0.01, "img_per_s": 310.0,
        "epoch_s": 0.8, "eval_s": 0.2, "time_total_s": 3.3, "config/lr": 0.1,
    }
    assert chartable(result) == {
        "d_loss": 0.7, "g_loss": 1.9, "fid128_rand": 9.1, "kid128_rand": 0.01, "img_per_s": 310.0,
        "epoch_s": 0.8, "eval_s": 0.2, "time_total_s": 3.3,
    }
    assert {"epoch", "images_seen", "training_iteration", "time_this_iter_s"} <= BOOKKEEPING


def test_flat_params_and_best_key() -> None:
    assert flat_params({"train": {"lr": 0.001, "ema": True}, "name": "demo", "empty": {}}, "spec.") == {
        "spec.train.lr": "0.001", "spec.train.ema": "True", "spec.name": "demo", "spec.empty": "{}"}
    assert best_key("fid2k_rand") == "best_fid2k_rand"


def test_set_flags_are_pasteable() -> None:
    flags = set_flags({"lr": "0.00031", "conv_dim": 32, "seed": 3, "ema": True},
                      {"conv_dim": "model", "lr": "train", "ema": "train"})
    assert flags == "--set model.conv_dim=32 --set train.ema=true --set train.lr=0.00031 --set seed=3"
