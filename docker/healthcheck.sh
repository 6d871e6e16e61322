#!/usr/bin/env bash
# Exit 0 when URL answers HTTP 2xx within 5 s: the compose healthchecks (Ray dashboard, raylet
# agent, MLflow /health). Python instead of curl/wget keeps the image free of extra tools.
set -euo pipefail
url="${1:?usage: healthcheck.sh URL}"
exec python -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)' "$url"
