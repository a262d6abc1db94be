#!/usr/bin/env bash
# Runs the load benchmark (clawsocket vs the Node `ws` baseline) with enough file descriptors.
# BENCH_SCALE=small for a quick run.
set -euo pipefail
cd "$(dirname "$0")/../.."
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec cargo bench -p clawsocket-server --bench load "$@"
