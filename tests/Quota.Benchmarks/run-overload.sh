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
ulimit -n "$(ulimit -Hn)"  # each connection costs a descriptor on both ends
if [ -z "${QUOTA_SILO_DLL:-}" ]; then
  [ "${QUOTA_BUILD:-1}" = 0 ] || dotnet build -c Release -v q silo/Quota.Silo.csproj
  QUOTA_SILO_DLL=silo/bin/Release/net10.0/quota-silo.dll
fi
[ "${QUOTA_BUILD:-1}" = 0 ] || dotnet build -c Release -v q tests/Quota.Benchmarks/Quota.Benchmarks.csproj

dotnet "$QUOTA_SILO_DLL" \
  --urls http://127.0.0.1:18082 \
  --Quota:Cluster:SiloPort=21112 --Quota:Cluster:GatewayPort=40002 \
  --Quota:Policies:Users:0:Name=per-minute --Quota:Policies:Users:0:Algorithm=sliding-window \
  --Quota:Policies:Users:0:Limit=1000000000 --Quota:Policies:Users:0:Window=00:01:00 \
  --Logging:LogLevel:Default=Warning "$@" >/tmp/quota-overload-silo.log 2>&1 &
SILO=$!
trap 'kill $SILO 2>/dev/null || true' EXIT
for _ in $(seq 1 150); do curl -sf http://127.0.0.1:18082/healthz >/dev/null && break; sleep 0.2; done

dotnet tests/Quota.Benchmarks/bin/Release/net10.0/Quota.Benchmarks.dll overload \
  --http http://127.0.0.1:18082 --connections "$CONNECTIONS" --seconds "$SECONDS_PER_POINT" --warmup 5 --users 10000 \
  --retry-after "${QUOTA_RETRY_AFTER:-ignore}"
