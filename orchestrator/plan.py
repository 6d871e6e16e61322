"""What a spec will cost, said before anything runs: `gansweep validate` and `run --dry-run`.

The count that matters for a GAN sweep is trial-epochs: successive halving fixes it in advance
(N trials to the first rung, N/rf to the next, ...), ASHA only bounds it (every trial to the end).
Time is given in epoch-lengths on the concurrent slots rather than in seconds, because one epoch's
duration depends on the hardware and the model and is only known once the first one ends (the
live view's ETA takes over from there); an epoch's image count says how big that unit is.
"""

from __future__ import annotations

import math
from typing import Any

from orchestrator.schedulers import planned_reports, scheduler_label


def plan(spec: Any) -> dict[str, Any]:
    """The plan as numbers (the JSON `validate --json` adds to the resolved spec)."""
    trials = spec.grid_size() if spec.time_budget_s is None else None
    max_t = spec.max_t()
    known = spec.data.known_size
    planned = planned_reports(spec, None)
    upper = trials * max_t if trials is not None and max_t is not None else None
    slots = spec.resources.max_concurrent or 1
    work = planned if planned is not None else upper
    # metrics.final_seeds: (N-1) x K full trainings after the sweep, every one to max_t (no scheduler)
    reseeds = reseed_trainings(spec, trials)
    reseed_epochs = reseeds * max_t if max_t is not None else None
    after = max(math.ceil(reseed_epochs / slots), max_t or 0) if reseeds and reseed_epochs else 0
    return {
        "trials": trials,
        "scheduler": spec.scheduler.type,
        "metric": spec.asha_metric,
        "max_reports_per_trial": max_t,
        "trial_epochs": planned,
        "trial_epochs_at_most": upper,
        "images_per_epoch": known[0] if known else None,
        "concurrent_trials": slots,
        "cpus_per_trial": spec.resources.cpus_per_trial,
        "gpus_per_trial": spec.resources.gpus_per_trial,
        # the slots share the work, but the winner trains its max_t epochs one after another
        "epoch_lengths_of_wall_time": (max(math.ceil(work / slots), max_t or 0) + after
                                       if work is not None else None),
        "reseed_trainings": reseeds,
        "reseed_trial_epochs": reseed_epochs if reseeds else 0,
        "time_budget_s": spec.time_budget_s,
    }


def reseed_trainings(spec: Any, trials: int | None) -> int:
    """Trainings the reseeds add (orchestrator.reseed): (final_seeds - 1) x the re-measured top K, 0 when
    off (one seed, or no re-measurement)."""
    if spec.metrics.final_seeds <= 1 or spec.metrics.final_samples == 0:
        return 0
    k = spec.metrics.final_top_k if trials is None else min(spec.metrics.final_top_k, trials)
    return (spec.metrics.final_seeds - 1) * k


def plan_lines(spec: Any) -> list[str]:
    """The plan in a few lines, for people."""
    p = plan(spec)
    sched = scheduler_label(p["scheduler"])
    lines = [f"{spec.name}: "
             + (f"{p['trials']} trials" if p["trials"] is not None else
                f"trials until the time budget ({p['time_budget_s']} s) runs out")
             + f", {sched} on {p['metric']}, up to {p['max_reports_per_trial']} epochs each"]
    most = p["trial_epochs_at_most"]
    if p["trial_epochs"] is not None:
        full = f" of the {most} without early stops" if most else ""
        lines.append(f"work: {p['trial_epochs']} trial-epochs{full} ({sched} fixes this in advance)")
    elif most is not None:
        lines.append(f"work: at most {most} trial-epochs ({sched} stops some trials early)")
    if p["reseed_trainings"]:
        n = spec.metrics.final_seeds
        lines.append(f"then: {p['reseed_trainings']} reseed trainings ((final_seeds {n} - 1) x the top "
                     f"{p['reseed_trainings'] // (n - 1)}), {p['reseed_trial_epochs']} more trial-epochs")
    size = f"{p['images_per_epoch']} images" if p["images_per_epoch"] else "the dataset (size unknown here)"
    gpus = f", {p['gpus_per_trial']:g} GPU" if p["gpus_per_trial"] else ", no GPU"
    if p["epoch_lengths_of_wall_time"] is not None:
        lines.append(f"time: about {p['epoch_lengths_of_wall_time']} epoch-lengths of wall time on "
                     f"{p['concurrent_trials']} concurrent trials ({p['cpus_per_trial']:g} CPU{gpus} each); "
                     f"one epoch = {size}, its duration shows after the first epoch")
    return lines
