"""The metric and backbone registries: one entry per metric kind and per feature backbone.

Why a separate module: the spec (``orchestrator.sweep_spec``), the reports and the CLI need to know which
metrics and backbones exist and whether a metric is better low or high, without importing torch
(seconds per process). So an entry names its implementation as ``"module:attribute"`` and it is
imported only when a trial builds the metric or loads the backbone (``trainers.metrics``), in the
spirit of stylegan2-ada's ``metric_main`` registry and of Python entry points.

One entry drives everything: the spec accepts exactly these keys (``metrics.kinds``,
``metrics.backbone``, ``scheduler.metric``), a trial computes the kinds the spec lists on one feature
pass, the scheduler and the searcher optimise in the entry's ``mode``, and the reports rank by it
(:func:`metric_mode`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from trainers.metric_names import parse_metric_name

Mode = Literal["min", "max"]


def _resolve(target: str | Callable[..., Any]) -> Any:
    """``"module:attr"`` imported now, or a callable as it is (an entry registered at run time)."""
    if callable(target):
        return target
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


@dataclass(frozen=True)
class MetricKind:
    """One metric kind: the kind opens its protocol name (``fid2k_rand``, ``prec2k_rand``)."""

    factory: str | Callable[..., Any]  # "module:attr" (or the callable): real stats -> score(feats) -> float
    mode: Mode = "min"  # "min": lower is better (FID, KID); "max": higher is better (precision)
    noise: bool = False  # a bootstrap noise estimate (<name>_noise) is logged beside each value
    summary: str = ""

    def load(self) -> Any:
        return _resolve(self.factory)


@dataclass(frozen=True)
class Backbone:
    """One feature network for the metrics."""

    # "module:attr" (or the callable): weights -> nn.Module with .name, .dim, .weights_id
    loader: str | Callable[..., Any]
    weights: str | None = None  # "module:attr" resolving a weights file (spec, env, cache); None: needs none
    summary: str = ""

    def load(self) -> Any:
        return _resolve(self.loader)

    def resolve_weights(self, explicit: str | None) -> Any:
        """Check the weights file is there before any data is decoded (the resolver's error names it)."""
        return _resolve(self.weights)(explicit) if self.weights else None


METRICS: dict[str, MetricKind] = {
    "fid": MetricKind("trainers.metrics.evaluator:FrechetScore", "min", noise=True,
                      summary="Frechet distance of feature means and covariances (Heusel et al. 2017)"),
    "kid": MetricKind("trainers.metrics.evaluator:KIDScore", "min",
                      summary="kernel inception distance: unbiased MMD^2 over subsets (Binkowski 2018)"),
    "prec": MetricKind("trainers.metrics.precision:PrecisionScore", "max",
                       summary="improved precision: share of samples inside the real k-NN manifold "
                               "(Kynkaanniemi et al. 2019)"),
}

BACKBONES: dict[str, Backbone] = {
    "inception": Backbone("trainers.metrics.backbones:load_inception",
                          weights="trainers.metrics.weights:resolve_inception_weights",
                          summary="Inception-v3 pool3, TF-ported FID weights (comparable with papers)"),
    "rand": Backbone("trainers.metrics.backbones:load_rand",
                     summary="fixed random conv features: offline, deterministic, not paper-comparable"),
}


def metric_mode(name: str) -> Mode:
    """``"min"`` or ``"max"`` for a metric name (``fid2k_rand``, ``prec2k_rand``, or a bare kind).

    A name the rule never writes, or a kind no longer registered, is taken as lower-is-better
    (``orchestrator.record.names.mode_of`` strips the record's own prefixes and suffixes first).
    """
    parsed = parse_metric_name(name)
    return METRICS[parsed.kind].mode if parsed is not None and parsed.kind in METRICS else "min"


def check_kind(kind: str) -> MetricKind:
    """The registry entry of ``kind`` or a one-line ValueError naming the registered ones."""
    if kind not in METRICS:
        raise ValueError(f"unknown metric {kind!r} (choose from {', '.join(METRICS)})")
    return METRICS[kind]
