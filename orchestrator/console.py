"""Terminal output of a running sweep, in a terminal and in a log file alike.

On a TTY: a live table (one row per trial: params, epoch x/N, latest/best metric, status) with a
caption of done/running/pending counts, elapsed time and an ETA. Anywhere else (`> log`, nohup,
CI, Slurm, `submit` log-following): one plain, flushed line per epoch and per trial event, so a
day-long sweep is never silent.
"""

from __future__ import annotations

import math
import sys
import time
from typing import IO, Any

from ray.tune import Callback
from ray.tune.experiment import Trial
from rich.console import Console
from rich.live import Live
from rich.table import Table

from orchestrator.record.names import FINAL_KEY, best_of, short_trial_id
from orchestrator.schedule import is_fresh
from orchestrator.schedulers import planned_reports, scheduler_label

# Piped output (CI logs, `| tee`) gets a wide fixed width instead of rich's 80 columns.
console = Console(width=None if sys.stdout.isatty() else 160)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:.4g}"
    return str(value)


def phase(text: str, stream: IO[str] | None = None) -> None:
    """One timestamped line for a sweep-wide step (starting Ray, re-measuring the top trials, ...),
    on a terminal and in a log alike: the display never sits silent through a long step."""
    line = f"[{time.strftime('%H:%M:%S')}] {text}"
    if stream is None and sys.stdout.isatty():
        console.print(line, highlight=False)
    else:
        print(line, file=stream or sys.stdout, flush=True)


def duration(seconds: float) -> str:
    """3725 -> '1h02m05s', 65 -> '1m05s', 7 -> '7s'."""
    seconds = int(max(0.0, seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class LiveTrialTable(Callback):
    """Tune callback reporting progress: a live table on a TTY, plain lines otherwise."""

    def __init__(
        self,
        metric: str,
        swept: list[str],
        enabled: bool = True,
        scheduler: str = "ASHA",
        planned: int | None = None,
        max_t: int | None = None,
        total: int | None = None,
        concurrency: int = 1,
        live: bool | None = None,
        stream: IO[str] | None = None,
        remeasure_evals: float = 0.0,
    ) -> None:
        self.metric = metric
        self.swept = swept
        self.scheduler = scheduler  # its display name: "stopped by ASHA at epoch 2"
        self.planned = planned  # reports the whole sweep trains, when the scheduler fixes it (sha)
        self._paused: set[str] = set()  # trial ids Tune holds paused at a rung
        self.enabled = enabled
        self.max_t = max_t  # reports ("epochs") of a trial that runs to the end
        self.total = total  # planned trials, None when a time budget decides
        self.concurrency = max(1, concurrency)
        self.live = sys.stdout.isatty() if live is None else live
        self.stream = stream
        self._rows: dict[str, dict[str, Any]] = {}
        self._live: Live | None = None
        self._started = time.monotonic()
        self._iterations = 0  # reports seen by this driver (for the throughput behind the ETA)
        # the end-of-sweep re-measurement, in trial metric evaluations (top K x draws x its sample
        # ratio): the ETA adds it at the trials' mean metric seconds, since the sweep ends after it
        self.remeasure_evals = remeasure_evals
        self._eval_s, self._evals = 0.0, 0

    @classmethod
    def for_sweep(cls, spec: Any, images: int | None, enabled: bool = True) -> LiveTrialTable:
        """The progress display of `spec`'s sweep (`images`: dataset size, for report-based max_t)."""
        from orchestrator.remeasure import final_samples  # lazy: it imports the metric stack

        total = spec.grid_size() if spec.time_budget_s is None else None
        final = final_samples(spec, images) if images else (spec.metrics.final_samples or 0)
        remeasure = spec.metrics.final_top_k * spec.metrics.final_draws * final / spec.metrics.samples
        return cls(spec.asha_metric, sorted(spec.search_params()), enabled=enabled, max_t=spec.max_t(images),
                   total=total, concurrency=spec.resources.max_concurrent or 1,
                   scheduler=scheduler_label(spec.scheduler.type),
                   planned=planned_reports(spec, images), remeasure_evals=remeasure)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.update(_live=None, _rows={}, stream=None, _paused=set())
        return state

    def setup(self, **info: Any) -> None:
        self._started = time.monotonic()

    # ------------------------------------------------------------------ state
    def _row(self, trial: Any) -> dict[str, Any]:
        fresh = {"epoch": 0, "latest": math.nan, "best": math.nan, "status": "pending"}
        fresh["config"] = trial.config
        return self._rows.setdefault(trial.trial_id, fresh)

    def counts(self) -> tuple[int, int, int]:
        """(done, running, pending) trials; pending counts planned trials not started yet, and
        trials paused at a rung (``paused``) are not running."""
        running = sum(1 for row in self._rows.values() if row["status"] in ("running", "pending"))
        done = len(self._rows) - running
        pending = max(0, self.total - len(self._rows)) if self.total is not None else 0
        return done, running - len(self._paused), pending

    def _note_paused(self, trials: list) -> None:
        """Tune has no pause hook; every hook gets the trial list, whose statuses say who is paused."""
        self._paused = {t.trial_id for t in trials if getattr(t, "status", None) == Trial.PAUSED}

    def eta_s(self) -> float | None:
        """Estimated time left if every unfinished trial runs to max_t (ASHA usually cuts some), plus
        the end-of-sweep re-measurement at the trials' mean seconds per metric evaluation.

        An estimate, not a bound: the speed is this driver's reports per second per busy slot so far,
        and the remaining work runs on at most `concurrency` slots, fewer when fewer trials are left
        (the last trial of a sweep runs alone). Wider trials that start late take longer than that.
        """
        elapsed = time.monotonic() - self._started
        if self.max_t is None or self._iterations == 0 or elapsed <= 0:
            return None
        done, running, pending = self.counts()
        unfinished = [row for row in self._rows.values() if row["status"] in ("running", "pending")]
        left = sum(max(0, self.max_t - row["epoch"]) for row in unfinished) + pending * self.max_t
        if self.planned is not None:  # sha: the halving fixes the total in advance
            left = max(0, self.planned - sum(row["epoch"] for row in self._rows.values()))
        lanes = min(self.concurrency, len(unfinished) + pending)
        remeasure = self.remeasure_evals * (self._eval_s / self._evals if self._evals else 0.0)
        if lanes == 0:
            return remeasure
        per_slot = self._iterations / elapsed / min(self.concurrency, max(1, len(self._rows)))
        return left / (per_slot * lanes) + remeasure

    def progress(self) -> str:
        done, running, pending = self.counts()
        eta = self.eta_s()
        elapsed = duration(time.monotonic() - self._started)
        paused = f", {len(self._paused)} paused" if self._paused else ""
        text = f"{done} done, {running} running{paused}, {pending} pending | elapsed {elapsed}"
        return text + (f", ETA ~{duration(eta)}" if eta is not None else "")

    def _epoch(self, row: dict[str, Any]) -> str:
        return f"{row['epoch']}/{self.max_t}" if self.max_t else str(row["epoch"])

    def _label(self, trial: Any) -> str:
        params = " ".join(f"{p}={_fmt(trial.config.get(p, ''))}" for p in self.swept)
        return f"trial {short_trial_id(trial.trial_id)}" + (f" ({params})" if params else "")

    # ------------------------------------------------------------------ output
    def _line(self, text: str) -> None:
        """One plain line, flushed at once: a log file shows progress while the sweep runs."""
        if not self.enabled or self.live:
            return
        stamp = time.strftime("%H:%M:%S")
        print(f"[{stamp}] {text}", file=self.stream or sys.stdout, flush=True)

    def _status(self, trial_id: str, row: dict[str, Any]) -> str:
        """A row's status; a trial Tune holds at a rung reads `paused@k` (k = its epochs so far)."""
        if trial_id in self._paused and row["status"] in ("running", "pending"):
            return f"paused@{row['epoch']}"
        return row["status"]

    def _render(self) -> Table:
        title = f"gansweep - {self.scheduler} on {self.metric}"
        table = Table(title=title, caption=self.progress(), expand=False)
        table.add_column("trial")
        for name in self.swept:
            table.add_column(name)
        for name in ("epoch", f"{self.metric}", f"best {self.metric}", "status"):
            table.add_column(name, justify="right" if name != "status" else "left")
        for trial_id, row in self._rows.items():
            params = [_fmt(row["config"].get(name, "")) for name in self.swept]
            values = [self._epoch(row), _fmt(row["latest"]), _fmt(row["best"]), self._status(trial_id, row)]
            table.add_row(short_trial_id(trial_id), *params, *values)
        return table

    def _refresh(self) -> None:
        if not self.enabled or not self.live:
            return
        if self._live is None:
            self._live = Live(self._render(), console=console, refresh_per_second=4, transient=False)
            self._live.start()
        else:
            self._live.update(self._render())

    # ------------------------------------------------------------------ Tune hooks
    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._note_paused(trials)
        again = trial.trial_id in self._rows  # a worker died (Tune restarts it) or a rung pause ended
        row = self._row(trial)
        row["status"] = "running"
        again_as = "restarted" if getattr(trial, "num_failures", 0) else "resumed"
        event = f"{again_as} after epoch {row['epoch']}" if again else "started"
        self._line(f"{self._label(trial)} {event} | {self.progress()}")
        self._refresh()

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        if result.get("already_finished"):
            return
        self._note_paused(trials)
        row = self._row(trial)
        row["epoch"] = int(result.get("training_iteration", 0))
        self._iterations += 1
        if is_fresh(result, self.metric):  # reports between evaluations (metrics.every) spent none
            self._eval_s, self._evals = self._eval_s + float(result["eval_s"]), self._evals + 1
        value = result.get(self.metric)
        if isinstance(value, int | float) and not isinstance(value, bool):
            row["latest"] = float(value)
            if math.isfinite(value):
                row["best"] = best_of([row["best"], value], self.metric)
        self._line(
            f"trial {short_trial_id(trial.trial_id)} epoch {self._epoch(row)} "
            f"{self.metric}={_fmt(row['latest'])} best={_fmt(row['best'])} | {self.progress()}"
        )
        self._refresh()

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        last = trial.last_result or {}
        self._note_paused(trials)
        row = self._row(trial)
        if last.get("already_finished"):
            row["status"] = "done before resume"
        elif last.get("diverged"):
            row["status"] = "diverged"
        else:
            row["status"] = "completed" if last.get(FINAL_KEY) else f"stopped@{row['epoch']}"
        event = {
            "done before resume": "was done before the resume",
            "diverged": f"diverged at epoch {row['epoch']}",
            "completed": f"completed {row['epoch']} epochs",
        }.get(row["status"], f"stopped by {self.scheduler} at epoch {row['epoch']}")
        best = f" (best {self.metric}={_fmt(row['best'])})" if not math.isnan(row["best"]) else ""
        self._line(f"{self._label(trial)} {event}{best} | {self.progress()}")
        self._refresh()

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._row(trial)["status"] = "failed"
        self._line(f"{self._label(trial)} failed at epoch {self._row(trial)['epoch']} | {self.progress()}")
        self._refresh()

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        self.close()

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


def resume_line(name: str, finished: int, planned: int | None) -> str:
    """What `--resume` prints before it starts: how much of the sweep is left."""
    if planned is None:
        return f"resuming {name}: {finished} trials finished, the time budget decides the rest"
    return f"resuming {name}: {max(0, planned - finished)} of {planned} trials left"
