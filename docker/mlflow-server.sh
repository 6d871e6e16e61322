#!/usr/bin/env bash
# Start the MLflow tracking server in the foreground, proxying artifact uploads (--serve-artifacts).
#
# Used by the compose service `mlflow` (PostgreSQL backend, artifacts on a volume), docker/cluster.yaml
# (on the head host) and tests/orchestrator/test_cluster.py (SQLite in a temp dir, on loopback).
# Artifacts always go through the server, so no node ever needs direct access to the artifact
# store. Extra arguments are passed to `mlflow server` unchanged.
#
#   MLFLOW_BACKEND_STORE_URI       runs/params/metrics database    (sqlite:///mlflow.db)
#   MLFLOW_ARTIFACTS_DESTINATION   where uploaded artifacts land    (./mlartifacts)
#                                  Both reach `mlflow server` through the environment, which it reads
#                                  itself, never through its argv: a database password in the URI
#                                  would otherwise show in `ps` on the host.
#   GANSWEEP_MLFLOW_HOST           bind address                     (127.0.0.1; 0.0.0.0 in compose)
#   GANSWEEP_MLFLOW_PORT           port                             (5000)
#   GANSWEEP_MLFLOW_WORKERS        server worker processes          (2)
#   GANSWEEP_MLFLOW_ALLOWED_HOSTS  Host headers accepted (DNS-rebinding protection; MLflow's default
#                                  is localhost + private IPs, which rejects e.g. "mlflow:5000")
#   MLFLOW_SERVER_ENABLE_JOB_EXECUTION  MLflow's background job workers (GenAI features)  (false:
#                                  gansweep does not use them, and they are seven extra processes)
set -euo pipefail
export MLFLOW_SERVER_ENABLE_JOB_EXECUTION="${MLFLOW_SERVER_ENABLE_JOB_EXECUTION:-false}"
export MLFLOW_BACKEND_STORE_URI="${MLFLOW_BACKEND_STORE_URI:-sqlite:///mlflow.db}"
export MLFLOW_ARTIFACTS_DESTINATION="${MLFLOW_ARTIFACTS_DESTINATION:-./mlartifacts}"

args=(
  --serve-artifacts
  --host "${GANSWEEP_MLFLOW_HOST:-127.0.0.1}"
  --port "${GANSWEEP_MLFLOW_PORT:-5000}"
  --workers "${GANSWEEP_MLFLOW_WORKERS:-2}"
)
if [[ -n "${GANSWEEP_MLFLOW_ALLOWED_HOSTS:-}" ]]; then
  args+=(--allowed-hosts "${GANSWEEP_MLFLOW_ALLOWED_HOSTS}")
fi

exec mlflow server "${args[@]}" "$@"
