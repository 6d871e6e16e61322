"""The winner, re-measured: the sweep's top trials evaluated again on a larger sample at the end.

Why: during the sweep each trial is measured with a small sample (e.g. 1-2k images) every epoch,
and its best epoch is the minimum over those noisy values: the minimum of several noisy numbers is
biased low (winner's curse), and the trial that looks best is partly the luckiest draw. So at the
end of a sweep the ``metrics.final_top_k`` trials with the best values have their chosen generator
(the best-epoch generator the trial saved, ``model/best_generator.pt``) re-evaluated once with
``metrics.final_samples`` fresh samples (default ``min(10000, dataset size)``) against real
statistics of as many real images, and the value is logged on the child run as
``final_<metric name at that sample size>`` (e.g. ``final_fid10k_rand``). Reports rank by it when
present (``orchestrator.report``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from mlflow.tracking import MlflowClient

from orchestrator.record import names
from orchestrator.report.generators import load_generator
from orchestrator.spec import SweepSpec
from trainers import metrics
from trainers.loop import resolve_device

FINAL_NOISE_SEED = 12345  # the same latents for every re-measured trial: a paired comparison
DEFAULT_FINAL_SAMPLES = 10000


def final_samples(spec: SweepSpec, images: int) -> int:
    """Generated samples of the re-measurement (0: none): the spec's, else min(10000, dataset size)."""
    if spec.metrics.final_samples is not None:
        return spec.metrics.final_samples
    return min(DEFAULT_FINAL_SAMPLES, images)


def top_trials(client: MlflowClient, experiment_id: str, parent_run_id: str, metric: str,
               k: int) -> list[Any]:
    """The ``k`` finished child runs with the best (lowest) best-so-far ``metric``, best first."""
    children = client.search_runs(
        [experiment_id], filter_string=f"tags.`{names.PARENT}` = '{parent_run_id}'", max_results=10_000
    )

    def best(run: Any) -> float:
        keys = (names.best_key(metric), names.signal_key(metric, "best"), metric)
        values = [run.data.metrics.get(key) for key in keys]
        finite = [v for v in values if v is not None and math.isfinite(v)]
        return min(finite) if finite else math.inf

    ranked = sorted((best(r), r.info.start_time, r) for r in children if math.isfinite(best(r)))
    return [r for _, _, r in ranked[:k]]


def seeded_sampler(model: torch.nn.Module, z_dim: int, device: str) -> Callable[[int], torch.Tensor]:
    """``sample(n)`` for the metric: images from fixed-seed latents, in eval mode, without gradients."""
    gen = torch.Generator().manual_seed(FINAL_NOISE_SEED)
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
    device = str(resolve_device("auto"))
    images = np.load(info["dataset"], mmap_mode="r")
    _, stats_path = metrics.real_stats(
        images, info["dataset_fingerprint"], backbone=spec.metrics.backbone, samples=min(n, len(images)),
        weights=spec.metrics.weights, device=device, progress=progress,
    )
    metric = metrics.build_metric(stats_path, backbone=spec.metrics.backbone, samples=n,
                                  weights=spec.metrics.weights, device=device, kid=False,
                                  batch_size=spec.metrics.batch_size)
    name = metric.names[0]
    key = names.final_key(name)
    out: dict[str, float] = {}
    for run in top:
        if key in run.data.metrics:  # measured before the driver died (a --resume): never logged twice
            out[run.info.run_id] = run.data.metrics[key]
            continue
        model, cfg = load_generator(client, run.info.run_id)
        value = float(metric(seeded_sampler(model, cfg.z_dim, device))[name])
        client.log_metric(run.info.run_id, key, value)
        out[run.info.run_id] = value
    client.set_tag(parent_run_id, names.TAG_FINAL_METRIC, key)
    return out
