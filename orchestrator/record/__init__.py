"""MLflow record of a sweep: sweep = parent run, trial = nested child run.

`names` holds every key (tags, params, metrics, image keys), `store` the client, experiment and
parent run, `writer` the Tune callback that is the only thing writing trials to MLflow.
"""

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
from orchestrator.record.store import client_for, default_artifact_root, default_tracking_uri, start_sweep_run

__all__ = [
    "PARENT", "TAG_BACKBONE", "TAG_DETAIL", "TAG_KIND", "TAG_METRIC", "TAG_NODE", "TAG_STATUS", "TAG_SWEEP",
    "TAG_SWEPT", "TAG_TRIAL", "client_for", "default_artifact_root", "default_tracking_uri",
    "start_sweep_run",
]
