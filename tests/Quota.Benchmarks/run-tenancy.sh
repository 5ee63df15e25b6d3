#!/usr/bin/env bash
# Decisions per second for a request naming a tenant (its allowance and the choice of one of four pooled tokens)
# next to a bare grain call and a user decision, against a real silo from a separate process, alternating rounds.
# Usage: tests/Quota.Benchmarks/run-tenancy.sh [seconds-per-round] [rounds] [tenants]
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_PER_POINT="${1:-3}"
ROUNDS="${2:-3}"
TENANTS="${3:-100}"
source tests/Quota.Benchmarks/silo-start.sh
start_silo 18081 21112 40001 /tmp/quota-bench-tenancy-silo.log

dotnet tests/Quota.Benchmarks/bin/Release/net10.0/Quota.Benchmarks.dll decisions \
  --gateway 127.0.0.1:40001 --http http://127.0.0.1:18081 --users 10000 --tenants "$TENANTS" \
  --seconds "$SECONDS_PER_POINT" --rounds "$ROUNDS"
