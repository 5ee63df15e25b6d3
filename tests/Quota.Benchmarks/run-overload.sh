#!/usr/bin/env bash
# Overload (issue 16): one silo, a closed loop of POST /v1/acquire from N keep-alive connections split evenly between
# the four priorities, over 10,000 users whose limit the machine cannot reach (every decision takes the grant path).
# Per priority: answers, decided (200/429) per second, the share shed (503), and the latency of the decided and the shed.
# Usage: tests/Quota.Benchmarks/run-overload.sh [connections (default 1000,3000)] [seconds (default 10)] [silo arguments...]
#   QUOTA_RETRY_AFTER=honour makes a shed caller wait Retry-After before its next request (default: ignore, at once);
#   QUOTA_BUILD=0 skips the Release builds (already built);
#   QUOTA_SILO_DLL=path/quota-silo.dll measures another build (e.g. main before shedding); extra arguments go to the
#   silo, e.g. --Quota:Limits:MaxRequestsInFlight=250.
# The silo listens on 127.0.0.1:18082 (silo port 21112, gateway 40002) and is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
CONNECTIONS="${1:-1000,3000}"
SECONDS_PER_POINT="${2:-10}"
shift $(( $# > 2 ? 2 : $# ))
source tests/Quota.Benchmarks/silo-start.sh
start_silo 18082 21112 40002 /tmp/quota-overload-silo.log "$@"

dotnet tests/Quota.Benchmarks/bin/Release/net10.0/Quota.Benchmarks.dll overload \
  --http http://127.0.0.1:18082 --connections "$CONNECTIONS" --seconds "$SECONDS_PER_POINT" --warmup 5 --users 10000 \
  --retry-after "${QUOTA_RETRY_AFTER:-ignore}"
