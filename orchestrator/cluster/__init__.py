"""Ray clusters: check an address before a sweep starts (``probe``), submit a sweep as a Ray Job and
list/stop jobs (``jobs``). Both talk to the cluster through Ray's own clients (JobSubmissionClient,
ray.util.state); importing this package needs only the standard library and click.
"""

from orchestrator.cluster.jobs import (
    ERROR_PREFIX,
    driver_entrypoint,
    follow,
    jobs,
    stop,
    submit,
    submit_sweep,
    validate_for_cluster,
)
from orchestrator.cluster.probe import (
    DEFAULT_DASHBOARD,
    ClusterError,
    NodeResources,
    check_concurrency,
    check_ray_address,
    check_resources,
    check_tracking_uri,
    cluster_nodes,
    dashboard_nodes,
    dashboard_url,
    job_client,
    ray_nodes,
    refuse_ray_client,
)

__all__ = [
    "DEFAULT_DASHBOARD", "ERROR_PREFIX", "ClusterError", "NodeResources", "check_concurrency",
    "check_ray_address", "check_resources", "check_tracking_uri", "cluster_nodes", "dashboard_nodes",
    "dashboard_url",
    "driver_entrypoint", "follow", "job_client", "jobs", "ray_nodes", "refuse_ray_client", "stop", "submit",
    "submit_sweep", "validate_for_cluster",
]
