#!/usr/bin/env bash
# Start the Ray head node in the foreground (`ray start --head --block`).
#
# One script for every place a head node starts, so they cannot drift apart: the compose service
# `ray-head`, docker/cluster.yaml (with GANSWEEP_RAY_BLOCK=0) and tests/orchestrator/test_cluster.py,
# which runs it on loopback. Settings come from environment variables (defaults suit a container);
# any extra arguments are passed to `ray start` unchanged.
#
#   GANSWEEP_RAY_PORT            GCS port workers join                        (6379)
#   GANSWEEP_DASHBOARD_HOST      dashboard + Jobs API bind address            (0.0.0.0: inside a
#                                container; compose publishes it on 127.0.0.1 only)
#   GANSWEEP_DASHBOARD_PORT      dashboard + Jobs API port                    (8265)
#   GANSWEEP_RAY_CLIENT_PORT     Ray Client server port (ray://)              (10001)
#   GANSWEEP_RAY_NUM_CPUS        CPUs this node offers to trials              (autodetect)
#   GANSWEEP_RAY_NUM_GPUS        GPUs this node offers to trials              (autodetect)
#   GANSWEEP_RAY_NODE_IP         address other nodes reach this one at        (autodetect)
#   GANSWEEP_RAY_TEMP_DIR        Ray's session/log directory                  (/tmp/ray)
#   GANSWEEP_RAY_BLOCK           1: stay in the foreground (services); 0: return after start  (1)
set -euo pipefail

args=(
  --head
  --port "${GANSWEEP_RAY_PORT:-6379}"
  --include-dashboard=true
  --dashboard-host "${GANSWEEP_DASHBOARD_HOST:-0.0.0.0}"
  --dashboard-port "${GANSWEEP_DASHBOARD_PORT:-8265}"
  --ray-client-server-port "${GANSWEEP_RAY_CLIENT_PORT:-10001}"
  --disable-usage-stats
)
# shellcheck source=docker/ray-node-args.sh
source "$(dirname "${BASH_SOURCE[0]}")/ray-node-args.sh"

exec ray start "${args[@]}" "$@"
