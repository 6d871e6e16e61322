"""The winner, re-measured: the sweep's top trials evaluated again on a larger sample at the end.

Why: during the sweep each trial is measured with a small sample (e.g. 1-2k images) every epoch,
and its best epoch is the minimum over those noisy values: the minimum of several noisy numbers is
biased low (winner's curse), and the trial that looks best is partly the luckiest draw. So at the
end of a sweep the ``metrics.final_top_k`` trials with the best values have their chosen generator
(the best-epoch generator the trial saved, ``model/best_generator.pt``) re-evaluated once with
``metrics.final_samples`` fresh samples (default ``min(10000, dataset size)``) against real
statistics of as many real images, and the value is logged on the child run as
``final_<metric name at that sample size>`` (e.g. ``final_fid10k_rand``). Reports rank by it when
present (``orchestrator.report``). Each trial is measured ``metrics.final_draws`` times on fresh
latents (draw d: the same seed for every trial), logged as mean and ``_std``, and the parent gets
the verdict: the winner ahead of the runner-up by more than the noise, or within it
(``orchestrator.uncertainty``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from mlflow.tracking import MlflowClient

from orchestrator import uncertainty
from orchestrator.record import names
from orchestrator.report.generators import load_generator
from orchestrator.sweep_spec import SweepSpec
from trainers import metrics
from trainers.loop import resolve_device
from trainers.metric_names import parse_metric_name

FINAL_NOISE_SEED = 12345  # the same latents for every re-measured trial: a paired comparison
DEFAULT_FINAL_SAMPLES = 10000


def final_samples(spec: SweepSpec, images: int) -> int:
    """Generated samples of the re-measurement (0: none): the spec's, else min(10000, dataset size)."""
    if spec.metrics.final_samples is not None:
        return spec.metrics.final_samples
    return min(DEFAULT_FINAL_SAMPLES, images)


def top_trials(client: MlflowClient, experiment_id: str, parent_run_id: str, metric: str,
               k: int) -> list[Any]:
    """The ``k`` finished child runs with the best best-so-far ``metric`` (by its mode), best first."""
    children = client.search_runs(  # sweep trials only: reseeds (metrics.final_seeds) are no candidates
        [experiment_id], filter_string=f"tags.`{names.PARENT}` = '{parent_run_id}' "
                                       f"and tags.`{names.TAG_KIND}` = '{names.KIND_TRIAL}'",
        max_results=10_000,
    )

    def best(run: Any) -> float:
        keys = (names.best_key(metric), names.signal_key(metric, "best"), metric)
        values = [run.data.metrics.get(key) for key in keys]
        finite = [sign * v for v in values if v is not None and math.isfinite(v)]
        return min(finite) if finite else math.inf  # sign * value: lower is better for either mode

    sign = names.sign_of(metric)
    ranked = sorted((best(r), r.info.start_time, r) for r in children if math.isfinite(best(r)))
    return [r for _, _, r in ranked[:k]]


def seeded_sampler(model: torch.nn.Module, z_dim: int, device: str,
                   seed: int = FINAL_NOISE_SEED) -> Callable[[int], torch.Tensor]:
    """``sample(n)`` for the metric: images from fixed-seed latents, in eval mode, without gradients."""
    gen = torch.Generator().manual_seed(seed)
    model = model.to(device).eval()

    @torch.no_grad()
    def sample(n: int) -> torch.Tensor:
        return model(torch.randn(n, z_dim, generator=gen).to(device)).float()

    return sample


def remeasure_top(spec: SweepSpec, client: MlflowClient, experiment_id: str, parent_run_id: str,
                  info: dict[str, Any], progress: bool = False) -> dict[str, float]:
    """Re-evaluate the top trials and log ``final_<metric>`` on them; returns {run_id: value}.

    Idempotent: a trial that already has ``final_<metric>`` (a driver killed during this loop, then
    ``--resume``) keeps its value and is not measured again, so no step is logged twice.
    """
    n = final_samples(spec, int(info["images"]))
    k = spec.metrics.final_top_k
    if n == 0 or k == 0:
        return {}
    top = top_trials(client, experiment_id, parent_run_id, spec.asha_metric, k)
    if not top:
        return {}
    measure = FinalMeasure.build(spec, info, n, progress)
    key = measure.key
    measured: dict[str, uncertainty.Measured] = {}
    logged: set[str] = set()  # runs whose mean/std are already on record
    for run in top:
        trial = names.short_trial_id(run.data.tags.get(names.TAG_TRIAL, run.info.run_id[:8]))
        values, done = measure.run(client, run, spec.metrics.final_draws)
        if done:
            logged.add(run.info.run_id)
        measured[run.info.run_id] = uncertainty.Measured(trial, values)
    client.set_tag(parent_run_id, names.TAG_FINAL_METRIC, key)
    # the mean of a run whose draws a killed driver recorded but not its mean, and the verdict
    uncertainty.record(client, parent_run_id, key, measured, logged=logged)
    return {run_id: m.mean for run_id, m in measured.items()}


@dataclass(frozen=True)
class FinalMeasure:
    """The end-of-sweep measurement: the decision's metric kind on ``n`` fresh samples, against real
    statistics of as many real images; shared by the re-measurement and the reseeds (orchestrator.reseed)."""

    metric: Any  # trainers.metrics evaluator
    name: str  # its metric name, e.g. fid10k_rand
    device: str

    @property
    def key(self) -> str:
        return names.final_key(self.name)

    @classmethod
    def build(cls, spec: SweepSpec, info: dict[str, Any], n: int, progress: bool = False) -> FinalMeasure:
        device = str(resolve_device("auto"))
        images = np.load(info["dataset"], mmap_mode="r")
        _, stats_path = metrics.real_stats(
            images, info["dataset_fingerprint"], backbone=spec.metrics.backbone, samples=min(n, len(images)),
            weights=spec.metrics.weights, device=device, progress=progress,
        )
        metric = metrics.build_metric(stats_path, backbone=spec.metrics.backbone, samples=n,
                                      weights=spec.metrics.weights, device=device,
                                      kinds=(parse_metric_name(spec.asha_metric).kind,),  # the decision's
                                      batch_size=spec.metrics.batch_size, noise_draws=0)
        return cls(metric, metric.names[0], device)

    def run(self, client: MlflowClient, run: Any, draws: int) -> tuple[tuple[float, ...], bool]:
        """(``draws`` values of the run's best generator, whether its mean was already on record).

        Measures only what no earlier (killed) driver recorded, and logs what it measures at once.
        """
        key = self.key
        values = _recorded_draws(client, run, key, draws)
        if values is not None:
            return values, key in run.data.metrics
        model, cfg = load_generator(client, run.info.run_id)
        values = tuple(float(self.metric(seeded_sampler(model, cfg.z_dim, self.device, FINAL_NOISE_SEED + d))
                             [self.name]) for d in range(draws))
        _log_measurement(client, run.info.run_id, key, uncertainty.Measured(run.info.run_id[:8], values))
        return values, True


def _recorded_draws(client: MlflowClient, run: Any, key: str, draws: int) -> tuple[float, ...] | None:
    """The draws a killed driver already measured for this run (``--resume`` measures nothing twice).

    All ``draws`` of ``<key>_draws`` (logged in one batch with the mean): reused; a run re-measured
    before draws were recorded carries only the mean: that one value; otherwise None (measure).
    """
    draws_key = names.draws_key(key)
    if draws_key in run.data.metrics:
        history = sorted(client.get_metric_history(run.info.run_id, draws_key), key=lambda m: m.step)
        if len(history) >= draws:
            return tuple(m.value for m in history[:draws])
    if key in run.data.metrics:
        return (float(run.data.metrics[key]),)
    return None


def _log_measurement(client: MlflowClient, run_id: str, key: str, measured: uncertainty.Measured) -> None:
    """A trial's draws (step = draw index), their mean and std in one batch, as soon as it is measured:
    a kill before the next trial loses nothing measured."""
    uncertainty.log_measured(client, run_id, names.draws_key(key), key, measured)
