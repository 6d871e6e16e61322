"""The record's key rules: what becomes a metric, params flattening, `--set` flags."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from orchestrator.record import names
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


# ---------------------------------------------------------------------------------------------
# One home for every key: no module of orchestrator/ spells one by hand (issue 22). A wrong
# literal gives an empty report column or a filter that matches nothing, not an error.

ORCHESTRATOR = Path(__file__).resolve().parents[3] / "orchestrator"
# names.py's constants that read as keys (plain words such as "model" or "final" would flag prose)
KEY_CONSTANTS = ("PARENT", "GIT_COMMIT", "SOURCE_NAME", "SOURCE_TYPE", "VIEW_TAG", "BEST_EPOCH",
                 "BEST_GENERATOR", "GENERATOR", "BEST_GENERATOR_NAME", "GENERATOR_NAME", "TRIAL_CONFIG_NAME",
                 "SPEC_PARAM_PREFIX", "BEST_PREFIX", "FINAL_PREFIX")


def _spelled_keys() -> set[str]:
    values = {getattr(names, n) for n in dir(names) if n.startswith("TAG_") or n in KEY_CONSTANTS}
    return {v for v in values if isinstance(v, str)} | {s for s in names.SIGNAL_SUFFIX.values() if s}


def hand_spelled_keys(source: str) -> list[str]:
    """Each place in `source` that spells a record key instead of calling `orchestrator.record.names`."""
    keys, found = _spelled_keys(), {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.JoinedStr):  # f"best_{metric}", f"{metric}_best", f"... = 'trial'"
            parts = node.values
            for i, part in enumerate(parts):
                if not (isinstance(part, ast.Constant) and isinstance(part.value, str)):
                    continue
                text = part.value
                before = i > 0 and isinstance(parts[i - 1], ast.FormattedValue)
                after = i + 1 < len(parts) and isinstance(parts[i + 1], ast.FormattedValue)
                prefix = after and text.endswith((names.BEST_PREFIX, names.FINAL_PREFIX))
                suffix = before and text.startswith(tuple(s for s in names.SIGNAL_SUFFIX.values() if s))
                kind = re.search(rf"= '({names.KIND_SWEEP}|{names.KIND_TRIAL})'", text)
                if prefix or suffix or kind:
                    found.setdefault(node.lineno, f"line {node.lineno}: f-string part {text!r}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in keys:
            found.setdefault(node.lineno, f"line {node.lineno}: {node.value!r}")
    return [found[line] for line in sorted(found)]


def test_the_checker_finds_hand_spelled_keys() -> None:
    bad = ('a = f"best_{metric}"\nb = f"final_{name}"\nc = f"{metric}_best"\nd = "gansweep.kind"\n'
           'e = "model/best_generator.pt"\nf = "best_epoch"\ng = f"tags.`{k}` = \'trial\'"\n')
    assert [line.split(":")[0] for line in hand_spelled_keys(bad)] == [f"line {n}" for n in range(1, 8)]
    good = 'a = names.best_key(metric)\nb = f"budget_{metric}"\n"""final_<metric>"""\n'
    assert hand_spelled_keys(good) == []


def test_no_key_is_spelled_outside_names() -> None:
    offenders = {
        str(path.relative_to(ORCHESTRATOR.parent)): found
        for path in sorted(ORCHESTRATOR.rglob("*.py"))
        if path.name != "names.py" and (found := hand_spelled_keys(path.read_text()))
    }
    assert offenders == {}, f"use orchestrator.record.names for these keys: {offenders}"


def test_final_key_round_trips() -> None:
    assert names.final_key("fid10k_rand") == "final_fid10k_rand"
    assert names.final_metric(names.final_key("fid10k_rand")) == "fid10k_rand"
    assert names.final_metric("best_fid10k_rand") is None and names.final_metric("final_") is None
    assert names.signal_key("fid", "best") == "fid_best" and names.signal_key("fid", "raw") == "fid"


def test_seed_spread_keys_name_their_metric() -> None:
    key = names.final_key("prec2k_rand")
    assert names.seeds_key(key) == "final_prec2k_rand_seeds"
    assert names.per_seed_key(key) == "final_prec2k_rand_per_seed"
    for spread in (names.seeds_key(key), names.std_key(names.seeds_key(key)), names.per_seed_key(key)):
        assert names.metric_of(spread) == "prec2k_rand" and names.sign_of(spread) == -1.0  # higher is better
