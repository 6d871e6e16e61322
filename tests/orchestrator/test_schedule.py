"""Decision signal and scheduler construction (orchestrator.schedule), driven through Tune's schedulers."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, HyperBandScheduler, TrialScheduler

from orchestrator.schedule import (
    SIGNAL_STEP_KEY,
    DecisionSignal,
    SignalState,
    build_scheduler,
    decision_steps,
    diverged_scalars,
    eval_steps,
    next_signal,
    signal_key,
    tuner_metric,
)
from orchestrator.spec import from_dict


def _spec(tmp_path: Path, **scheduler: Any) -> Any:
    return from_dict(
        {
            "name": "s",
            "storage": str(tmp_path),
            "data": {"source": "synthetic", "image_size": 32, "count": 64},
            "train": {"epochs": 8, "batch_size": 16},
            "metrics": {"backbone": "rand", "samples": 64, **scheduler.pop("metrics", {})},
            "scheduler": scheduler,
        },
        check_data=False,
    )


class _Trial:
    """The attributes ASHA reads from a trial."""

    def __init__(self, name: str) -> None:
        self.trial_id = name


def test_signal_keys_name_the_summary() -> None:
    assert signal_key("fid2k_rand", "raw") == "fid2k_rand"
    assert signal_key("fid2k_rand", "best") == "fid2k_rand_best"
    assert signal_key("fid2k_rand", "smoothed") == "fid2k_rand_smooth"
    with pytest.raises(ValueError, match="decision signal"):
        signal_key("fid", "median")


def test_best_and_smoothed_follow_the_fresh_values() -> None:
    state = SignalState()
    for step, value in enumerate([0.4, 1.2, 0.3], start=1):
        state = next_signal(state, value, step, smoothing=0.5)
    assert state.step == 3 and state.raw == 0.3 and state.best == 0.3
    assert state.smooth == pytest.approx(0.5 * (0.5 * 0.4 + 0.5 * 1.2) + 0.5 * 0.3)
    worse = next_signal(state, math.nan, 4)
    assert worse.best == 0.3 and worse.smooth == math.inf and worse.raw == math.inf


def test_stale_values_never_move_the_signal() -> None:
    """metrics.every = 2: reports 2 and 4 repeat the last value (eval_s 0); signal_step stays put."""
    signal = DecisionSignal("fid", smoothing=0.5)
    reports = [(0.8, 1.0), (0.8, 0.0), (0.5, 1.0), (0.5, 0.0)]
    seen = [signal.update({"fid": v, "eval_s": e}, step) for step, (v, e) in enumerate(reports, start=1)]
    assert [s[SIGNAL_STEP_KEY] for s in seen] == [1, 1, 3, 3]
    assert [s["fid_best"] for s in seen] == [0.8, 0.8, 0.5, 0.5]
    assert seen[3]["fid_smooth"] == pytest.approx(0.65)
    assert DecisionSignal("fid").update({"d_loss": 1.0, "eval_s": 0.0}, 1) == {}  # nothing measured yet


def test_signal_state_round_trips_through_a_checkpoint(tmp_path: Path) -> None:
    signal = DecisionSignal("fid")
    signal.update({"fid": 0.7, "eval_s": 1.0}, 1)
    signal.save(tmp_path)
    restored = DecisionSignal("fid")
    restored.load(tmp_path)
    assert restored.state == signal.state
    fresh = DecisionSignal("fid")
    fresh.load(tmp_path / "missing")
    assert fresh.state == SignalState()


def test_diverged_result_is_worst_without_filing_a_rung() -> None:
    out = diverged_scalars("fid", "min", step=3)
    assert out["fid"] == out["fid_best"] == out["fid_smooth"] == math.inf
    assert out[SIGNAL_STEP_KEY] == 3
    # ASHA files a result under a rung only when signal_step crosses one: a trial judged at rung 2
    # (step 2) that diverges later reports step 2 again, so no infinite value poisons the rung.
    asha = ASHAScheduler(time_attr=SIGNAL_STEP_KEY, metric="fid_best", mode="min", max_t=8, grace_period=2)
    good, bad = _Trial("good"), _Trial("bad")
    for t in (good, bad):
        asha.on_trial_add(None, t)
    asha.on_trial_result(None, bad, {"fid_best": 0.5, SIGNAL_STEP_KEY: 2})
    asha.on_trial_complete(None, bad, diverged_scalars("fid", "min", step=2))
    assert asha.on_trial_result(None, good, {"fid_best": 0.9, SIGNAL_STEP_KEY: 2}) == TrialScheduler.STOP


def test_best_signal_spares_a_trial_on_a_noise_spike() -> None:
    """The case of issue 10: the eventual winner's FID spikes at epoch 2 (0.33 -> 0.91 -> 0.30)."""
    decisions = {}
    for signal in ("raw", "best"):
        key = signal_key("fid", signal)
        asha = ASHAScheduler(time_attr=SIGNAL_STEP_KEY, metric=key, mode="min", max_t=8, grace_period=1,
                             reduction_factor=2)
        steady, spiky = _Trial("steady"), _Trial("spiky")
        trackers = {t: DecisionSignal("fid") for t in (steady, spiky)}
        curves = {steady: [0.60, 0.55], spiky: [0.33, 0.91]}
        for t in (steady, spiky):
            asha.on_trial_add(None, t)
        for step in (1, 2):
            for t in (steady, spiky):
                result = {"fid": curves[t][step - 1], "eval_s": 1.0}
                result.update(trackers[t].update(result, step))
                decision = asha.on_trial_result(None, t, result)
        decisions[signal] = decision  # the spiky trial's decision at rung 2
    assert decisions == {"raw": TrialScheduler.STOP, "best": TrialScheduler.CONTINUE}


def test_scheduler_types_and_metric(tmp_path: Path) -> None:
    asha = build_scheduler(_spec(tmp_path, type="asha", signal="best"), 64)
    assert isinstance(asha, ASHAScheduler) and asha._time_attr == SIGNAL_STEP_KEY
    assert isinstance(build_scheduler(_spec(tmp_path, type="hyperband"), 64), HyperBandScheduler)
    assert isinstance(build_scheduler(_spec(tmp_path, type="none"), 64), FIFOScheduler)
    assert tuner_metric(_spec(tmp_path, signal="smoothed")) == "fid64_rand_smooth"
    assert tuner_metric(_spec(tmp_path, signal="raw")) == "fid64_rand"


def test_decisions_happen_where_the_metric_is_fresh(tmp_path: Path) -> None:
    assert eval_steps(8, 1) == list(range(1, 9))
    assert eval_steps(8, 3) == [1, 4, 7, 8]
    asha = _spec(tmp_path, type="asha", grace_period=1, reduction_factor=2)
    assert decision_steps(asha, 64) == (1, 2, 4, 8)
    # metrics.every = 3: rung 2 is decided at the evaluation of report 4, rung 4 at 4, rung 8 at 8
    every3 = _spec(tmp_path, type="asha", grace_period=1, reduction_factor=2, metrics={"every": 3})
    assert decision_steps(every3, 64) == (1, 4, 8)
    assert decision_steps(_spec(tmp_path, type="hyperband", reduction_factor=2), 64) == (1, 2, 4, 8)
    assert decision_steps(_spec(tmp_path, type="none"), 64) == ()
