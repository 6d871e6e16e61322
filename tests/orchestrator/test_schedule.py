"""Decision signal and scheduler construction (orchestrator.schedule), driven through Tune's schedulers."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, HyperBandScheduler, TrialScheduler
from spec_helpers import small_sweep

from orchestrator.schedule import (
    SIGNAL_STEP_KEY,
    DecisionSignal,
    SignalState,
    diverged_scalars,
    next_signal,
    signal_key,
    tuner_metric,
)
from orchestrator.schedulers import build_scheduler, decision_steps, eval_steps


def _spec(tmp_path: Path, **scheduler: Any) -> Any:
    metrics = {"backbone": "rand", "samples": 64, **scheduler.pop("metrics", {})}
    return small_sweep(tmp_path, scheduler, metrics=metrics)


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
        asha = ASHAScheduler(
            time_attr=SIGNAL_STEP_KEY, metric=key, mode="min", max_t=8, grace_period=1, reduction_factor=2
        )
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


def test_successive_halving_is_the_default_and_decides_at_its_rungs(tmp_path: Path) -> None:
    from orchestrator.rungs import halvings, sha_rungs
    from orchestrator.schedule import SuccessiveHalving

    default = _spec(tmp_path)
    assert (default.scheduler.type, default.scheduler.reduction_factor) == ("sha", 2.25)
    # the factor left out is the scheduler's own: Tune's ASHA and HyperBand keep the replayed 3
    assert _spec(tmp_path, type="asha").scheduler.reduction_factor == 3
    assert _spec(tmp_path, reduction_factor=3).scheduler.reduction_factor == 3
    assert isinstance(build_scheduler(default, 64), SuccessiveHalving)
    assert (halvings(8, 1, 3), sha_rungs(8, 1, 3)) == (2, [1, 3])
    assert (halvings(8, 1, 2), sha_rungs(8, 1, 2)) == (3, [1, 2, 4])
    assert (halvings(8, 1, 2.25), sha_rungs(8, 1, 2.25)) == (3, [1, 2, 4])
    assert (halvings(8, 8, 2), sha_rungs(8, 8, 2)) == (0, [])
    assert decision_steps(default, 64) == (1, 2, 4, 8)
    # metrics.every = 2: rung 2 at the evaluation of report 3, rung 4 at report 5 (1, 3, 5, 7, 8)
    assert decision_steps(_spec(tmp_path, metrics={"every": 2}), 64) == (1, 3, 5, 8)


def test_successive_halving_keeps_the_best_third_whatever_the_arrival_order() -> None:
    """Driven through Tune's controller calls (benchmarks/asha_replay.simulate): 12 trials, rf 3,
    8 epochs -> 12 train 1 epoch, the best 4 to 3 epochs, the best 2 to 8; arrival order and slot
    count change nothing."""
    from benchmarks.asha_replay import Curves, simulate
    from orchestrator.schedule import SuccessiveHalving, signal_key

    quality = [7, 3, 11, 0, 5, 9, 1, 10, 4, 8, 2, 6]  # trial i's rank (0 best), curves fall with epochs
    signal = [[(1 + q) / (1 + e) for e in range(8)] for q in quality]
    curves = Curves(signal=signal, judge=signal, cost=[[1.0] * 8 for _ in quality], epochs=8)
    reached = set()
    for slots, order in (
        (2, list(range(12))),
        (4, list(range(11, -1, -1))),
        (8, [5, 3, 9, 0, 1, 2, 4, 6, 7, 8, 10, 11]),
    ):
        sha = SuccessiveHalving(
            time_attr=SIGNAL_STEP_KEY,
            metric=signal_key("fid", "best"),
            mode="min",
            max_t=8,
            grace_period=1,
            reduction_factor=3,
            num_trials=12,
        )
        epochs, stuck = simulate(curves, sha, slots, order, limiter=False)
        assert not stuck
        reached.add(tuple(epochs))
    assert len(reached) == 1
    epochs = reached.pop()
    by_rank = [epochs[quality.index(r)] for r in range(12)]
    assert by_rank == [8, 8, 3, 3] + [1] * 8


def test_planned_reports_of_successive_halving(tmp_path: Path) -> None:
    from orchestrator.schedulers import planned_reports
    from orchestrator.sweep_spec import load

    path = Path(__file__).resolve().parents[2] / "search_spaces" / "celeba32_cpu.yaml"
    spec = load(path, check_data=False)
    # rf 2.25, rungs 1, 2, 4: quotas 6, 3, then 2 slots
    assert planned_reports(spec, None) == 12 * 1 + 6 * 1 + 3 * 2 + 2 * 4  # 32 of the grid's 96 epochs
    # 8 slots: 8 go on from every rung (quotas 6, 3, 2): no slot idle
    wide = load(path, {"resources.max_concurrent": "8"}, check_data=False)
    assert planned_reports(wide, None) == 12 * 1 + 8 * 1 + 8 * 2 + 8 * 4
    old = load(path, {"scheduler.reduction_factor": "3"}, check_data=False)
    assert planned_reports(old, None) == 12 * 1 + 4 * 2 + 2 * 5  # rf 3: rungs 1, 3
    assert planned_reports(_spec(tmp_path, type="asha"), 64) is None  # ASHA decides as it goes


def test_successive_halving_decides_the_rungs_a_resumed_trial_has_already_passed() -> None:
    """After --resume, trials come back from checkpoints past the rung the fresh bracket waits at.
    Tune's bracket would keep them paused forever (the hang this guards against); here the passed
    rungs are decided at once. The trial that had ended before the resume takes no part."""
    from ray.tune.experiment import Trial

    from benchmarks.asha_replay import _Controller, _SimTrial
    from orchestrator.schedule import SuccessiveHalving

    sha = SuccessiveHalving(time_attr=SIGNAL_STEP_KEY, metric="fid", mode="min", max_t=4, grace_period=1,
                            reduction_factor=2, num_trials=4)  # rungs 1, 2, then 4; 4 -> 2 -> 1 trials
    ctl = _Controller(sha)
    ended, a, b = _SimTrial(0), _SimTrial(1), _SimTrial(2)
    ended.status = Trial.TERMINATED
    for t in (ended, a, b):
        ctl.trials.append(t)
        sha.on_trial_add(ctl, t)
    decisions = []
    for trial, fid in ((a, 1.0), (b, 2.0)):  # both resumed from their epoch-2 checkpoints
        assert sha.choose_trial_to_run(ctl) is trial
        trial.status = Trial.RUNNING
        decision = sha.on_trial_result(ctl, trial, {"fid": fid, SIGNAL_STEP_KEY: 3})
        trial.status = Trial.TERMINATED if decision == TrialScheduler.STOP else Trial.PAUSED
        decisions.append(decision)
    assert decisions == [TrialScheduler.PAUSE, TrialScheduler.STOP]  # rung 2 cut b (worse)
    assert sha.choose_trial_to_run(ctl) is a  # a goes on to epoch 4


def _halve(values: list[float], noise: list[float] | float, *, slots: int, rf: float = 3, max_t: int = 8
           ) -> list[int]:
    """Epochs each trial trains under SuccessiveHalving (driven through Tune's controller calls), given
    curves that keep each trial's rank at every epoch and its noise estimate."""
    from benchmarks.asha_replay import Curves, simulate
    from orchestrator.schedule import SuccessiveHalving

    n = len(values)
    noises = noise if isinstance(noise, list) else [noise] * n
    curves = Curves(signal=[[v / (1 + e) for e in range(max_t)] for v in values], judge=[[0.0] * max_t] * n,
                    cost=[[1.0] * max_t for _ in values], epochs=max_t,
                    noise=[[s / (1 + e) for e in range(max_t)] for s in noises])
    sha = SuccessiveHalving(time_attr=SIGNAL_STEP_KEY, metric=signal_key("fid", "best"), mode="min",
                            max_t=max_t, grace_period=1, reduction_factor=rf, num_trials=n, slots=slots)
    epochs, stuck = simulate(curves, sha, slots, list(range(n)), limiter=False)
    assert not stuck
    return epochs


def test_promotions_fill_the_free_slots_and_keep_ties_within_noise() -> None:
    from orchestrator.schedule import promotions

    values, none = [0.10, 0.20, 0.30, 0.40, 0.50, 0.60], [0.0] * 6
    assert promotions(values, none, quota=2, slots=1) == 2
    assert promotions(values, none, quota=1, slots=4) == 4  # a slot left idle saves no wall-clock
    assert promotions(values[:3], none[:3], quota=1, slots=8) == 3  # no more than are alive
    # 0.3001 is behind the cut line (0.30) by 0.0001, well inside sqrt(2) x 0.01: kept; 0.40 is not
    assert promotions([0.1, 0.3, 0.3001, 0.4], [0.01] * 4, quota=2, slots=1) == 3
    # everyone tied: kept up to 2 x the quota, no further
    assert promotions([0.3] * 10, [0.01] * 10, quota=2, slots=1) == 4
    assert promotions([0.3] * 10, [0.01] * 10, quota=2, slots=1, bound=1.0) == 2  # widening off
    assert promotions([0.3, 0.3, math.inf], [0.01] * 3, quota=1, slots=1) == 2  # a diverged one never


def test_successive_halving_never_leaves_a_slot_idle() -> None:
    """8 trials, rf 3, 8 epochs: Tune's bracket keeps 3 after epoch 1 and 1 after epoch 3, leaving one
    of 2 slots idle for the last 5 epochs (issue 20). With the slot rule the last rung keeps 2."""
    quality = [5, 2, 7, 0, 4, 1, 6, 3]  # rank of trial i, 0 best
    one_slot = _halve([1.0 + q for q in quality], 0.0, slots=1)
    two_slots = _halve([1.0 + q for q in quality], 0.0, slots=2)
    by_rank = lambda epochs: [epochs[quality.index(r)] for r in range(8)]  # noqa: E731
    assert by_rank(one_slot) == [8, 3, 3] + [1] * 5
    assert by_rank(two_slots) == [8, 8, 3] + [1] * 5
    # 4 slots: 4 go on from epoch 1 (quota 3) and all 4 from epoch 3 (quota 1)
    assert by_rank(_halve([1.0 + q for q in quality], 0.0, slots=4)) == [8, 8, 8, 8] + [1] * 4


def test_successive_halving_keeps_a_trial_tied_with_the_cut_line() -> None:
    """12 trials, quota 4 at epoch 1: the 5th is 0.25% behind the 4th (issue 20's 0.0400 vs 0.0399)
    with a noise estimate of 2%: it goes on too. Without a noise estimate it is cut, as before."""
    values = [0.030, 0.033, 0.036, 0.0399, 0.0400, 0.050, 0.060, 0.070, 0.080, 0.090, 0.100, 0.110]
    with_noise = _halve(values, [0.02 * v for v in values], slots=1)
    without = _halve(values, 0.0, slots=1)
    assert with_noise[:6] == [8, 8, 3, 3, 3, 1] and with_noise[6:] == [1] * 6
    assert without[:6] == [8, 8, 3, 3, 1, 1]


def test_the_signal_carries_the_noise_of_the_evaluation_it_came_from() -> None:
    """The metric reports `<metric>_noise` (trainers' spelling = names.noise_key); the best signal keeps
    the noise of its best epoch, the smoothed one the EMA of the noises; the rung rule reads them."""
    from orchestrator.record.names import noise_key
    from trainers.metrics.evaluator import noise_name

    assert noise_key("fid2k_rand") == noise_name("fid2k_rand") == "fid2k_rand_noise"
    signal = DecisionSignal("fid2k_rand", smoothing=0.5)
    signal.update({"fid2k_rand": 0.40, "fid2k_rand_noise": 0.02, "eval_s": 1.0}, 1)
    out = signal.update({"fid2k_rand": 0.50, "fid2k_rand_noise": 0.04, "eval_s": 1.0}, 2)
    assert out[noise_key("fid2k_rand_best")] == 0.02  # still the epoch-1 best, with its own noise
    assert out[noise_key("fid2k_rand_smooth")] == pytest.approx(math.hypot(0.5 * 0.02, 0.5 * 0.04))
    quiet = DecisionSignal("fid").update({"fid": 0.4, "eval_s": 1.0}, 1)  # no estimate: no noise keys
    assert set(quiet) == {"fid_best", "fid_smooth", SIGNAL_STEP_KEY}
