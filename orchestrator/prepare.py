"""The driver's one-time preparation of a sweep: dataset array, real statistics, protocol record.

Done once in the driver, not per trial: decoding the dataset into the cached uint8 array and
computing the real-image statistics are the expensive, shared steps; trials get paths to them
(:class:`orchestrator.trial.TrialInputs`). The info dict describes what was prepared for the
sweep's record; its ``"protocol"`` entry is the measurement protocol of every metric value of the
sweep (dataset fingerprint, image size, real and generated sample counts, backbone, weights id),
built by ``trainers.metrics`` from the real statistics actually used (``RealStats.protocol``, the one
rule), so reports refuse to mix sweeps measured differently.
"""

from __future__ import annotations

from typing import Any

from orchestrator.schedulers import decision_steps
from orchestrator.sweep_spec import SweepSpec
from orchestrator.trial import TrialInputs
from trainers import data as data_mod
from trainers import metrics
from trainers.loop import resolve_device
from trainers.registry import BACKBONES


def prepare_inputs(spec: SweepSpec, progress: bool = True) -> tuple[TrialInputs, dict[str, Any]]:
    """Decode/cache the dataset and the real FID statistics once, in the driver."""
    # fail on a missing weights file (Inception's) before decoding any data
    BACKBONES[spec.metrics.backbone].resolve_weights(spec.metrics.weights)
    prepared = data_mod.prepare(spec.data_config(), progress=progress)
    images = prepared.load(mmap=True)
    m = spec.metrics
    real_n = min(spec.real_samples, prepared.count)
    device = str(resolve_device("auto"))
    stats, stats_path = metrics.real_stats(
        images,
        prepared.fingerprint,
        backbone=m.backbone,
        samples=real_n,
        weights=m.weights,
        device=device,
        cache_dir=None,
        progress=progress,
    )
    inputs = TrialInputs(
        base_config=spec.base_train_values(),
        data_path=str(prepared.path),
        stats_path=str(stats_path),
        backbone=m.backbone,
        samples=m.samples,
        kinds=m.computed_kinds,
        weights=m.weights,
        metric_batch_size=m.batch_size,
        resolved_spec=spec.resolved(),
        asha_metric=spec.asha_metric,
        mode=spec.scheduler.mode,
        checkpoint_every=spec.checkpoint.every,
        checkpoint_every_s=spec.checkpoint.every_s,
        checkpoint_steps=decision_steps(spec, prepared.count),
    )
    info = {
        "dataset": str(prepared.path),
        "dataset_fingerprint": prepared.fingerprint,
        "images": prepared.count,
        "skipped_images": prepared.skipped,
        "real_stats": str(stats_path),
        "real_samples": real_n,
        "backbone": m.backbone,
        "generated_samples": m.samples,
        # the protocol of every metric value of the sweep, from the statistics actually used (one rule)
        "protocol": stats.protocol(m.samples),
    }
    return inputs, info
