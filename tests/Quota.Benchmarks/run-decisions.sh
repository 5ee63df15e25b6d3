#!/usr/bin/env bash
# Decisions per second against a real silo from a separate process: bare grain call vs. decision through the
# Orleans client vs. decision over HTTP, in alternating rounds (median reported).
# Usage: tests/Quota.Benchmarks/run-decisions.sh [seconds-per-round] [rounds]
#   QUOTA_BUILD=0 skips the Release builds; QUOTA_SILO_DLL=path/quota-silo.dll measures another build (silo-start.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_PER_POINT="${1:-3}"
ROUNDS="${2:-3}"
source tests/Quota.Benchmarks/silo-start.sh
start_silo 18080 21111 40000 /tmp/quota-bench-silo.log

dotnet tests/Quota.Benchmarks/bin/Release/net10.0/Quota.Benchmarks.dll decisions \
  --gateway 127.0.0.1:40000 --http http://127.0.0.1:18080 --users 10000 --seconds "$SECONDS_PER_POINT" --rounds "$ROUNDS"
