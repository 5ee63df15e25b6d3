#!/usr/bin/env bash
# Envoy's ShouldRateLimit over gRPC against the same one-subject decision over HTTP, from a separate process, at 1 and
# 64 calls in flight, in alternating rounds (median reported).
# Usage: tests/Quota.Benchmarks/run-rls.sh [seconds-per-round] [rounds]
#   QUOTA_BUILD=0 skips the Release builds; QUOTA_SILO_DLL=path/quota-silo.dll measures another build (silo-start.sh).
# The silo listens on 127.0.0.1:18084 (HTTP), 127.0.0.1:19084 (rate-limit service), silo port 21114, gateway 40004.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_PER_POINT="${1:-3}"
ROUNDS="${2:-3}"
source tests/Quota.Benchmarks/silo-start.sh
start_silo 18084 21114 40004 /tmp/quota-bench-rls-silo.log

dotnet tests/Quota.Benchmarks/bin/Release/net10.0/Quota.Benchmarks.dll rls \
  --http http://127.0.0.1:18084 --rls http://127.0.0.1:19084 --keys 10000 --seconds "$SECONDS_PER_POINT" --rounds "$ROUNDS" --inflight 1,64
