"""Measuring a generator: feature backbones, cached real statistics, FID and KID.

One job per module: ``frechet``, ``kid`` and ``precision`` are pure maths (no I/O), ``backbones`` the
feature networks, ``weights`` where the Inception file comes from, ``real_stats`` the hash-keyed cache of
real-image statistics, ``protocol`` the metric-name rule and the protocol identity, ``evaluator`` the
metric object the training loop calls (every registered kind on one feature pass), ``ladder`` the
disturbances that validate a backbone. Both registries, :data:`METRICS` (kind -> factory, mode) and
:data:`BACKBONES`, live in the torch-free ``trainers.registry`` so the spec can read them.
"""

from trainers.metrics.backbones import (
    InceptionBackbone,
    RandBackbone,
    extract_features,
    fid_inception_net,
    load_backbone,
)
from trainers.metrics.evaluator import FIDMetric, Sampler, build_metric
from trainers.metrics.frechet import fid_from_features, frechet_distance
from trainers.metrics.kid import kid
from trainers.metrics.protocol import (
    PROTOCOL_FIELDS,
    MetricName,
    metric_name,
    metric_names,
    parse_metric_name,
    protocol,
    protocol_difference,
    protocol_key,
)
from trainers.metrics.real_stats import KID_REAL_MAX, STATS_VERSION, RealStats, load_real_stats, real_stats
from trainers.metrics.weights import (
    INCEPTION_FILE,
    INCEPTION_HASH_PREFIX,
    INCEPTION_URL,
    WEIGHTS_ENV,
    FIDWeightsError,
    resolve_inception_weights,
)
from trainers.registry import BACKBONES, METRICS  # noqa: E402  (re-exported: the registries)

__all__ = [
    "BACKBONES", "METRICS", "FIDMetric", "FIDWeightsError", "INCEPTION_FILE", "INCEPTION_HASH_PREFIX",
    "INCEPTION_URL", "InceptionBackbone", "KID_REAL_MAX", "MetricName", "PROTOCOL_FIELDS", "RandBackbone",
    "RealStats", "STATS_VERSION", "Sampler", "WEIGHTS_ENV", "build_metric", "extract_features",
    "fid_from_features", "fid_inception_net", "frechet_distance", "kid", "load_backbone", "load_real_stats",
    "metric_name", "metric_names", "parse_metric_name", "protocol", "protocol_difference", "protocol_key",
    "real_stats", "resolve_inception_weights",
]
