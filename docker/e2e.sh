#!/usr/bin/env bash
# A cluster rehearsal on one machine with a Docker daemon: build the images, bring up the compose
# cluster (PostgreSQL + MLflow, a Ray head, two CPU workers), submit the demo sweep with
# `gansweep submit` run from the image, `docker kill` one worker while it trains a trial (a lost
# node), then check from MLflow that every trial FINISHED in one run with each epoch logged once and
# the lost trial restarted (tag gansweep.restarts) from its checkpoint; `down -v` at the end leaves no
# container or volume.
#
#   bash docker/e2e.sh            (from anywhere; root, or a user in the docker group)
#   bash docker/e2e.sh s3         the same with `storage: s3://gansweep/runs` on an S3-compatible
#                                 server (moto, docker/s3.Dockerfile) in its own container
#
# Knobs (environment): BASE_IMAGE (default: gansweep-base:bookworm, built from Debian packages by
# docker/build-base.sh when missing: needs root + debootstrap), POSTGRES_IMAGE (default: built from
# docker/postgres/Dockerfile on BASE_IMAGE; postgres:16.4-alpine where a registry is reachable),
# EXTRA_CA_CERTS (PEM text; default: the certificates in /usr/local/share/ca-certificates, for pip
# behind a TLS-inspecting proxy), PIP_INDEX_URL, CPU_TORCH_INDEX_URL, KEEP_UP=1 (skip `down -v`).
# Uses `docker compose` (v2) or `docker-compose` (v1), whichever exists. Prints each phase's time.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
project="gansweep-e2e"
sweep="demo"
trials=4
storage_kind="${1:-shared}"
case "$storage_kind" in
  shared) storage=/shared/runs ;;
  s3) storage=s3://gansweep/runs ;;
  *) echo "usage: docker/e2e.sh [s3]" >&2; exit 2 ;;
esac
# For s3: what every Ray node of the job and the audit need to reach the bucket (the rehearsal's
# throw-away keys; moto accepts any). Ray hands a job's env vars to all of its trials.
s3_env=(AWS_ENDPOINT_URL=http://s3:9000 AWS_ACCESS_KEY_ID=rehearsal AWS_SECRET_ACCESS_KEY=rehearsal
        AWS_REGION=us-east-1)
profiles=(--profile cpu)
[[ "$storage_kind" == s3 ]] && profiles+=(--profile s3)

if docker compose version >/dev/null 2>&1; then
  compose_cmd=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
  compose_cmd=(docker-compose)
else
  echo "e2e: needs Docker Compose: the v2 plugin (docker compose) or v1 (docker-compose)" >&2
  exit 2
fi

start=$SECONDS
phase_start=$SECONDS
phase() {  # phase NAME: print the previous phase's time, start the next
  local now=$SECONDS
  if [[ -n "${current_phase:-}" ]]; then
    printf '== %-28s %4d s   (total %4d s)\n' "$current_phase" $((now - phase_start)) $((now - start))
  fi
  current_phase="$1"
  phase_start=$now
  [[ "$1" == end ]] || echo "== $1"
}

work="$(mktemp -d "${TMPDIR:-/tmp}/gansweep-e2e.XXXXXX")"
envfile="$work/env"
compose() { "${compose_cmd[@]}" -p "$project" -f docker/compose.yaml --env-file "$envfile" "$@"; }

passed=0
cleanup() {
  local rc=$?
  if [[ $passed != 1 && $rc == 0 ]]; then rc=1; fi  # stopped by a signal before the end
  if [[ -f "$envfile" && "${KEEP_UP:-0}" != "1" ]]; then
    phase "down -v"
    compose --profile cpu --profile cli --profile s3 down -v --remove-orphans >"$work/down.log" 2>&1 || cat "$work/down.log"
    left_c="$(docker ps -aq --filter "label=com.docker.compose.project=$project" | wc -l)"
    left_v="$(docker volume ls -q --filter "label=com.docker.compose.project=$project" | wc -l)"
    echo "left behind: $left_c containers, $left_v volumes"
    if [[ "$left_c" != 0 || "$left_v" != 0 ]]; then rc=1; fi
    phase end
  fi
  rm -rf "$work"
  if [[ $rc == 0 ]]; then echo "e2e: PASSED in $((SECONDS - start)) s"; else echo "e2e: FAILED (exit $rc)"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
secret() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

# ------------------------------------------------------------------------------------------- images
base="${BASE_IMAGE:-gansweep-base:bookworm}"
if [[ -z "${EXTRA_CA_CERTS:-}" ]] && compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  EXTRA_CA_CERTS="$(cat /usr/local/share/ca-certificates/*.crt)"
fi
build_args=(--build-arg "BASE_IMAGE=$base" --build-arg "EXTRA_CA_CERTS=${EXTRA_CA_CERTS:-}"
            --build-arg "PIP_INDEX_URL=${PIP_INDEX_URL:-https://pypi.org/simple}")

phase "base image ($base)"
if ! docker image inspect "$base" >/dev/null 2>&1; then
  if [[ -n "${BASE_IMAGE:-}" ]]; then docker pull "$base"; else bash docker/build-base.sh "$base"; fi
fi

phase "build images"
build() {  # build TAG DOCKERFILE [ARGS...]: quiet unless it fails
  local tag="$1" file="$2"
  shift 2
  if ! docker build -f "$file" "${build_args[@]}" "$@" -t "$tag" . >"$work/build.log" 2>&1; then
    tail -40 "$work/build.log"
    echo "e2e: docker build -f $file failed" >&2
    exit 1
  fi
}
build gansweep-mlflow:latest docker/mlflow.Dockerfile
build gansweep:cpu docker/Dockerfile --build-arg TORCH_VARIANT=cpu \
  --build-arg "TORCH_INDEX_URL=${CPU_TORCH_INDEX_URL:-}"
postgres_image="${POSTGRES_IMAGE:-gansweep-postgres:15}"
if [[ -z "${POSTGRES_IMAGE:-}" ]]; then build "$postgres_image" docker/postgres/Dockerfile; fi
if [[ "$storage_kind" == s3 ]]; then build gansweep-s3:latest docker/s3.Dockerfile; fi
docker image ls --format '{{.Repository}}:{{.Tag}}  {{.Size}}' \
  | grep -E "^(gansweep-mlflow:latest|gansweep:cpu|gansweep:gpu|gansweep-s3:latest|${postgres_image}|${base}) " || true
# The backend URI's dialect and its driver import in the MLflow image (no connection is made).
docker run --rm --entrypoint python gansweep-mlflow:latest -c \
  'import sqlalchemy as sa; e = sa.create_engine("postgresql+psycopg2://u:p@h/d"); print("mlflow image: dialect", e.dialect.name, e.dialect.driver, "imports; sqlalchemy", sa.__version__)'

# ------------------------------------------------------------------------------------------- cluster
phase "compose up"
mkdir -p "$work/data" "$work/specs"
cp search_spaces/demo.yaml docker/e2e_audit.py "$work/specs/"
chmod -R a+rX "$work"
mlflow_port="$(free_port)"
dashboard_port="$(free_port)"
cat >"$envfile" <<EOF
POSTGRES_PASSWORD=$(secret 16)
RAY_AUTH_TOKEN=$(secret 32)
POSTGRES_IMAGE=$postgres_image
BASE_IMAGE=$base
GANSWEEP_DATA_DIR=$work/data
GANSWEEP_SPEC_DIR=$work/specs
MLFLOW_PORT=$mlflow_port
RAY_DASHBOARD_PORT=$dashboard_port
HEAD_CPUS=0
CPU_WORKER_CPUS=1
HEAD_MEMORY=3g
CPU_WORKER_MEMORY=3g
RAY_SHM_SIZE=1g
EOF
compose "${profiles[@]}" up -d --scale ray-cpu-worker=2 >"$work/up.log" 2>&1 || { cat "$work/up.log"; exit 1; }
mapfile -t workers < <(compose "${profiles[@]}" ps -q ray-cpu-worker)
for _ in $(seq 200); do  # every container healthy (workers: their raylet answers, so they joined)
  unhealthy=0
  for c in $(compose "${profiles[@]}" ps -q); do
    [[ "$(docker inspect -f '{{.State.Health.Status}}' "$c")" == healthy ]] || unhealthy=$((unhealthy + 1))
  done
  [[ $unhealthy == 0 ]] && break
  sleep 2
done
compose "${profiles[@]}" ps
if [[ $unhealthy != 0 ]]; then compose logs --tail 30; echo "e2e: $unhealthy containers not healthy" >&2; exit 1; fi
echo "published: MLflow http://127.0.0.1:$mlflow_port, Ray dashboard/Jobs API http://127.0.0.1:$dashboard_port (token required)"
code="$(python3 -c "import urllib.request as u, urllib.error as e
try: print(u.urlopen('http://127.0.0.1:$dashboard_port/api/jobs/', timeout=5).status)
except e.HTTPError as err: print(err.code)")"
echo "Jobs API without the token answers HTTP $code"
[[ "$code" == 401 || "$code" == 403 ]] || { echo "e2e: the Jobs API is open without a token" >&2; exit 1; }

# ------------------------------------------------------------------------------------------- sweep
phase "submit + lost node"
submit_args=(--set checkpoint.every=1)
audit_env=()
if [[ "$storage_kind" == s3 ]]; then
  for kv in "${s3_env[@]}"; do submit_args+=(--env "$kv"); audit_env+=(-e "$kv"); done
  submit_args+=(--set "storage=$storage")
  compose run --rm -T "${audit_env[@]}" --entrypoint python gansweep -c \
    'import pyarrow.fs as pafs
fs, bucket = pafs.FileSystem.from_uri("s3://gansweep?allow_bucket_creation=true")  # reads AWS_ENDPOINT_URL
fs.create_dir(bucket)
print("bucket s3://gansweep created")'
fi
# The demo (4 trials, successive halving, 6 epochs for the best) with resume state every epoch, so a
# lost node costs at most the epoch it was training.
compose run --rm -T gansweep submit "/specs/$sweep.yaml" "${submit_args[@]}" >"$work/submit.log" 2>&1 &
submit_pid=$!
# Wait until a trial has logged 2 epochs (past the first rung), then kill the worker training one.
compose run --rm -T --entrypoint python gansweep /specs/e2e_audit.py wait "$sweep" 2
killed=""
for _ in $(seq 300); do  # a trial paused at a rung is on no worker: wait for one to train
  for w in "${workers[@]}"; do  # (docker top needs the pid column to find the container's processes)
    if docker top "$w" -eo pid,args 2>/dev/null | grep -q "ImplicitFunc"; then killed="$w"; break 2; fi
  done
  sleep 0.5
done
[[ -n "$killed" ]] || { echo "e2e: no worker was training a trial" >&2; exit 1; }
lost_host="$(docker inspect -f '{{.Config.Hostname}}' "$killed")"
docker kill "$killed" >/dev/null
echo "node lost: docker kill $(docker inspect -f '{{.Name}}' "$killed" | tr -d /) (host $lost_host, training a trial) at $((SECONDS - start)) s"
rc=0
wait "$submit_pid" || rc=$?
tail -25 "$work/submit.log"
echo "gansweep submit exited $rc; killed worker now: $(docker inspect -f '{{.State.Status}}' "$killed")"
[[ $rc == 0 ]] || { echo "e2e: the sweep did not succeed" >&2; exit 1; }

phase "MLflow audit"
compose run --rm -T "${audit_env[@]}" --entrypoint python gansweep /specs/e2e_audit.py audit "$sweep" "$trials" \
  "$lost_host" "$storage"
passed=1
