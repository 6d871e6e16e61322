"""MLflow record of a sweep: sweep = parent run, trial = nested child run.

`names` holds every key (tags, params, metrics, image keys), `store` the client, experiment and
parent run, `writer` the Tune callback that is the only thing writing trials to MLflow.

`store`'s functions are imported on first use: `names` is read by modules that never touch MLflow
(the schedulers, the trial in each Ray worker), and importing MLflow costs them about 2 s.
"""

from __future__ import annotations

import importlib
from typing import Any

from orchestrator.record.names import (
    PARENT,
    TAG_BACKBONE,
    TAG_DETAIL,
    TAG_KIND,
    TAG_METRIC,
    TAG_NODE,
    TAG_STATUS,
    TAG_SWEEP,
    TAG_SWEPT,
    TAG_TRIAL,
)

_FROM_STORE = ("client_for", "default_artifact_root", "default_tracking_uri", "start_sweep_run")

__all__ = [
    "PARENT", "TAG_BACKBONE", "TAG_DETAIL", "TAG_KIND", "TAG_METRIC", "TAG_NODE", "TAG_STATUS", "TAG_SWEEP",
    "TAG_SWEPT", "TAG_TRIAL", *_FROM_STORE,
]


def __getattr__(name: str) -> Any:
    if name in _FROM_STORE:
        return getattr(importlib.import_module("orchestrator.record.store"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
