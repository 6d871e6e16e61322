#!/usr/bin/env bash
# Sourced by ray-head.sh and ray-worker.sh: the `ray start` options both kinds of node take
# from the environment (documented in those scripts). Appends to the caller's `args` array.
if [[ -n "${GANSWEEP_RAY_NUM_CPUS:-}" ]]; then args+=(--num-cpus "${GANSWEEP_RAY_NUM_CPUS}"); fi
if [[ -n "${GANSWEEP_RAY_NUM_GPUS:-}" ]]; then args+=(--num-gpus "${GANSWEEP_RAY_NUM_GPUS}"); fi
if [[ -n "${GANSWEEP_RAY_NODE_IP:-}" ]]; then args+=(--node-ip-address "${GANSWEEP_RAY_NODE_IP}"); fi
if [[ -n "${GANSWEEP_RAY_TEMP_DIR:-}" ]]; then args+=(--temp-dir "${GANSWEEP_RAY_TEMP_DIR}"); fi
if [[ "${GANSWEEP_RAY_BLOCK:-1}" == "1" ]]; then args+=(--block); fi
