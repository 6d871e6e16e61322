"""Progress output of a sweep: plain flushed lines off a TTY, epoch x/N and counts everywhere.

The callbacks are driven with real `ray.tune.experiment.Trial` objects (stub trials: no actor),
in the order Tune calls them.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

from ray.tune.experiment import Trial

from orchestrator.console import LiveTrialTable, duration, phase, resume_line


def _trial(index: int, **config: float) -> Trial:
    return Trial("run_trial", config=config, trial_id=f"b86cc_{index:05d}", stub=True)


def _progress(stream: io.StringIO, total: int | None = 3) -> LiveTrialTable:
    return LiveTrialTable("fid128_rand", ["conv_dim", "lr"], max_t=4, total=total, live=False, stream=stream)


def test_plain_lines_for_every_epoch_and_trial_event() -> None:
    out = io.StringIO()
    table = _progress(out)
    first, second = _trial(0, conv_dim=8, lr=1e-4), _trial(1, conv_dim=16, lr=3e-4)
    table.on_trial_start(0, [], first)
    table.on_trial_start(0, [], second)
    for epoch, fid in ((1, 90.0), (2, 70.0)):
        result = {"training_iteration": epoch, "fid128_rand": fid}
        first.update_last_result(result)
        table.on_trial_result(0, [], first, result)
    stop = {"training_iteration": 1, "fid128_rand": 120.0}
    second.update_last_result(stop)
    table.on_trial_result(0, [], second, stop)
    table.on_trial_complete(0, [], second)  # no "final": ASHA stopped it
    final = {"training_iteration": 4, "fid128_rand": 60.0, "final": 1.0}
    first.update_last_result(final)
    table.on_trial_result(0, [], first, final)
    table.on_trial_complete(0, [], first)
    lines = out.getvalue().splitlines()
    assert "trial 00000 (conv_dim=8 lr=0.0001) started" in lines[0]
    assert any("trial 00000 epoch 2/4 fid128_rand=70 best=70" in line for line in lines)
    assert any("trial 00001 (conv_dim=16 lr=0.0003) stopped by ASHA at epoch 1" in line for line in lines)
    assert "trial 00000 (conv_dim=8 lr=0.0001) completed 4 epochs (best fid128_rand=60)" in lines[-1]
    assert "2 done, 0 running, 1 pending" in lines[-1]
    assert all(line.startswith("[") and "elapsed" in line for line in lines)


def test_a_restarted_trial_says_so() -> None:
    out = io.StringIO()
    table = _progress(out)
    trial = _trial(3, conv_dim=8, lr=1e-4)
    table.on_trial_start(0, [], trial)
    table.on_trial_result(0, [], trial, {"training_iteration": 2, "fid128_rand": 5.0})
    table.on_trial_start(0, [], trial)  # a synchronous scheduler resumes it after a rung pause
    assert "trial 00003 (conv_dim=8 lr=0.0001) resumed after epoch 2" in out.getvalue().splitlines()[-1]
    trial.run_metadata.num_failures = 1  # what Tune counts before it retries a trial whose worker died
    table.on_trial_start(0, [], trial)
    assert "trial 00003 (conv_dim=8 lr=0.0001) restarted after epoch 2" in out.getvalue().splitlines()[-1]
    assert table.counts() == (0, 1, 2)


def test_failed_trial_and_counts() -> None:
    out = io.StringIO()
    table = _progress(out, total=None)
    trial = _trial(2, conv_dim=8, lr=1e-3)
    table.on_trial_start(0, [], trial)
    assert table.counts() == (0, 1, 0)
    table.on_trial_error(0, [], trial)
    assert table.counts() == (1, 0, 0)
    assert "trial 00002 (conv_dim=8 lr=0.001) failed at epoch 0" in out.getvalue()


def test_eta_appears_once_epochs_were_reported() -> None:
    table = _progress(io.StringIO())
    trial = _trial(0, conv_dim=8, lr=1e-4)
    table.on_trial_start(0, [], trial)
    assert table.eta_s() is None and "ETA" not in table.progress()
    table.on_trial_result(0, [], trial, {"training_iteration": 1, "fid128_rand": 5.0})
    assert table.eta_s() is not None and "ETA ~" in table.progress()


def test_live_table_shows_epoch_of_n_and_counts() -> None:
    table = _progress(io.StringIO())
    trial = _trial(0, conv_dim=8, lr=1e-4)
    table.on_trial_start(0, [], trial)
    table.on_trial_result(0, [], trial, {"training_iteration": 3, "fid128_rand": 5.0})
    rendered = table._render()
    assert "0 done, 1 running, 2 pending" in str(rendered.caption)
    epoch_column = next(c for c in rendered.columns if c.header == "epoch")
    assert list(epoch_column.cells) == ["3/4"]


def test_disabled_progress_prints_nothing() -> None:
    out = io.StringIO()
    table = LiveTrialTable("fid", [], enabled=False, live=False, stream=out)
    table.on_trial_start(0, [], _trial(0))
    assert out.getvalue() == ""


def test_resume_line_and_durations() -> None:
    assert resume_line("demo", 4, 6) == "resuming demo: 2 of 6 trials left"
    assert "time budget" in resume_line("demo", 4, None)
    assert duration(3725) == "1h02m05s" and duration(65) == "1m05s" and duration(7) == "7s"


def test_eta_of_the_last_trial_counts_one_slot_not_the_sweeps_throughput() -> None:
    """Two slots reported 4 epochs together; the last trial, 2 epochs left, now runs alone."""
    table = LiveTrialTable("fid128_rand", ["conv_dim", "lr"], max_t=4, total=2, concurrency=2, live=False,
                           stream=io.StringIO())
    first, last = _trial(0, conv_dim=8, lr=1e-4), _trial(1, conv_dim=8, lr=1e-3)
    for trial in (first, last):
        table.on_trial_start(0, [], trial)
    for epoch in (1, 2):
        for trial in (first, last):
            table.on_trial_result(0, [], trial, {"training_iteration": epoch, "fid128_rand": 1.0})
    table.on_trial_complete(0, [], first)
    elapsed_before = time.monotonic() - table._started
    eta = table.eta_s()
    assert eta is not None
    # one slot's speed (2 epochs in `elapsed`), not both slots' together (4 epochs): 2 epochs left
    # take about `elapsed`, where the sweep's throughput would say half of it
    assert eta >= 0.99 * elapsed_before


def test_paused_trials_and_a_planned_total() -> None:
    """Under successive halving the total epochs are known (planned), and trials Tune paused at a rung
    are counted apart from the running ones."""
    out = io.StringIO()
    table = LiveTrialTable("fid128_rand", ["lr"], max_t=4, total=2, live=False, stream=out, planned=6)
    a, b = _trial(0, lr=1e-4), _trial(1, lr=2e-4)
    table.on_trial_start(0, [a], a)
    table.on_trial_result(0, [a], a, {"training_iteration": 1, "fid128_rand": 5.0})
    a.set_status(Trial.PAUSED)
    table.on_trial_start(0, [a, b], b)
    assert table.counts() == (0, 1, 0)
    assert "0 done, 1 running, 1 paused, 0 pending" in out.getvalue().splitlines()[-1]
    status = next(c for c in table._render().columns if c.header == "status")
    assert list(status.cells) == ["paused@1", "running"], "a trial held at a rung is not shown running"
    table.on_trial_result(0, [a, b], b, {"training_iteration": 1, "fid128_rand": 4.0})
    eta = table.eta_s()
    assert eta is not None
    table.planned = None  # without a plan, every unfinished trial is assumed to run to max_t
    assert table.eta_s() > eta


def test_sweep_phases_are_timestamped_lines() -> None:
    out = io.StringIO()
    phase("re-measuring the top 2 trials on 2000 samples", stream=out)
    (line,) = out.getvalue().splitlines()
    assert line.startswith("[") and line.endswith("] re-measuring the top 2 trials on 2000 samples")


def test_eta_counts_the_remeasurement_at_the_trials_metric_seconds() -> None:
    """Once every trial is done the sweep still re-measures its top K: 3 trials x 3 draws at 2x the
    samples = 18 evaluations of 0.5 s each (the trials' mean eval_s) are 9 s left."""
    table = LiveTrialTable("fid128_rand", ["lr"], max_t=1, total=1, live=False, stream=io.StringIO(),
                           remeasure_evals=18.0)
    trial = _trial(0, lr=1e-4)
    table.on_trial_start(0, [trial], trial)
    table.on_trial_result(0, [trial], trial, {"training_iteration": 1, "fid128_rand": 5.0, "eval_s": 0.5})
    table.on_trial_complete(0, [trial], trial)
    assert table.eta_s() == 9.0


def test_remeasurement_evaluations_of_a_spec() -> None:
    """top K x draws x final_samples / samples, from the spec (the demo: 2 x 3 x 2000 / 1000 = 12)."""
    from orchestrator.sweep_spec import load

    spec = load(Path(__file__).resolve().parents[2] / "search_spaces" / "demo.yaml")
    assert LiveTrialTable.for_sweep(spec, 4000, enabled=False).remeasure_evals == 12.0
