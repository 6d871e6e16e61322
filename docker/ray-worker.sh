#!/usr/bin/env bash
# Start a Ray worker node that joins the head, in the foreground (`ray start --address --block`).
#
# Used by the compose service `ray-worker` (scale it with `docker compose up --scale ray-worker=N`),
# docker/cluster.yaml (with GANSWEEP_RAY_BLOCK=0) and tests/orchestrator/test_cluster.py. Extra
# arguments are passed to `ray start` unchanged.
#
#   GANSWEEP_RAY_HEAD            HOST:PORT of the head's GCS                  (ray-head:6379)
#   GANSWEEP_RAY_NUM_CPUS        CPUs this node offers to trials              (autodetect)
#   GANSWEEP_RAY_NUM_GPUS        GPUs this node offers to trials              (autodetect: the GPUs
#                                the container was given)
#   GANSWEEP_RAY_NODE_IP         address other nodes reach this one at        (autodetect)
#   GANSWEEP_RAY_TEMP_DIR        Ray's session/log directory                  (/tmp/ray)
#   GANSWEEP_RAY_BLOCK           1: stay in the foreground (services); 0: return after start  (1)
set -euo pipefail

args=(
  --address "${GANSWEEP_RAY_HEAD:-ray-head:6379}"
  --disable-usage-stats
)
# shellcheck source=docker/ray-node-args.sh
source "$(dirname "${BASH_SOURCE[0]}")/ray-node-args.sh"

exec ray start "${args[@]}" "$@"
