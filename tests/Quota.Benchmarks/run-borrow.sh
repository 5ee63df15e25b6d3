#!/usr/bin/env bash
# What a tenant's on-demand borrow costs (issue 21): the latency of the request that finds its reserve used up next to
# one served from the reserve, and decisions/s of a saturated tenant, against a real silo from a separate process.
# Usage: tests/Quota.Benchmarks/run-borrow.sh [tenants] [seconds-per-point] [--reserve N] [--second no] [--pause-ms N]
# QUOTA_SILO_DLL=path/quota-silo.dll measures another build of the silo (a "before").
set -euo pipefail
cd "$(dirname "$0")/../.."
TENANTS="${1:-400}"
SECONDS_PER_POINT="${2:-3}"
source tests/Quota.Benchmarks/silo-start.sh
start_silo 18082 21113 40002 /tmp/quota-bench-borrow-silo.log

dotnet tests/Quota.Benchmarks/bin/Release/net10.0/Quota.Benchmarks.dll borrow \
  --gateway 127.0.0.1:40002 --http http://127.0.0.1:18082 --tenants "$TENANTS" --seconds "$SECONDS_PER_POINT" "${@:3}"
