#!/usr/bin/env bash
# ASP.NET Core rate limiting in front of samples/Quota.Samples.WebApi: the Quota policy (one decision in the cluster per
# request) against the same app with the in-process SlidingWindowRateLimiter and with no limiter, at 1 and 64
# concurrent callers, targets alternating within each round (median of the rounds reported).
# Usage: nice -n -15 tests/Quota.Benchmarks/run-inbound.sh [seconds-per-point] [rounds] [users]
#   QUOTA_BUILD=0 skips the Release builds.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_PER_POINT="${1:-5}"
ROUNDS="${2:-3}"
USERS="${3:-20000}"
source tests/Quota.Benchmarks/silo-start.sh
start_silo 18090 21121 40010 /tmp/quota-bench-inbound-silo.log
[ "${QUOTA_BUILD:-1}" = 0 ] || dotnet build -c Release -v q samples/Quota.Samples.WebApi/Quota.Samples.WebApi.csproj

SAMPLE=samples/Quota.Samples.WebApi/bin/Release/net10.0/Quota.Samples.WebApi.dll
PIDS=()
start_sample() { # port limiter
  dotnet "$SAMPLE" --urls="http://127.0.0.1:$1" --Quota:Client:Gateways:0=127.0.0.1:40010 --Sample:Limiter="$2" \
    --Logging:LogLevel:Default=Warning >"/tmp/quota-bench-inbound-$2.log" 2>&1 &
  PIDS+=($!)
}
start_sample 18091 quota
start_sample 18092 sliding-window
start_sample 18093 none
trap 'kill ${PIDS[*]} $SILO 2>/dev/null || true' EXIT
for port in 18091 18092 18093; do
  for _ in $(seq 1 150); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done
done

dotnet tests/Quota.Benchmarks/bin/Release/net10.0/Quota.Benchmarks.dll inbound \
  --targets quota=http://127.0.0.1:18091,sliding-window=http://127.0.0.1:18092,none=http://127.0.0.1:18093 \
  --users "$USERS" --workers 1,64 --seconds "$SECONDS_PER_POINT" --rounds "$ROUNDS"
