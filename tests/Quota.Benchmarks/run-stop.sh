#!/usr/bin/env bash
# Graceful stop under load (issue 16): one silo, N keep-alive connections sending POST /v1/acquire in a loop (W of them
# waiting on the concurrency resource "slots", limit 1, held by the first), SIGTERM after 3 s. Every request is
# counted by what it got: a complete answer by status, refused before it was sent (nobody listening), or sent and
# never answered. Then the silo's exit code.
# Usage: tests/Quota.Benchmarks/run-stop.sh [connections (default 200)] [waiters (default 20)] [honour|ignore]
#   honour (the default): after a 503 a caller waits its Retry-After, as a well-behaved client does; ignore: it sends
#   its next request at once, on a new connection.
#   QUOTA_BUILD=0 skips the Release builds (already built);
#   QUOTA_SILO_DLL=path/quota-silo.dll measures another build (e.g. main before the drain).
# The silo listens on 127.0.0.1:18083 (silo port 21113, gateway 40003).
set -euo pipefail
cd "$(dirname "$0")/../.."
CONNECTIONS="${1:-200}"
WAITERS="${2:-20}"
RETRY_AFTER="${3:-honour}"
ulimit -n "$(ulimit -Hn)"  # each connection costs a descriptor on both ends
if [ -z "${QUOTA_SILO_DLL:-}" ]; then
  [ "${QUOTA_BUILD:-1}" = 0 ] || dotnet build -c Release -v q silo/Quota.Silo.csproj
  QUOTA_SILO_DLL=silo/bin/Release/net10.0/quota-silo.dll
fi
[ "${QUOTA_BUILD:-1}" = 0 ] || dotnet build -c Release -v q tests/Quota.Benchmarks/Quota.Benchmarks.csproj

dotnet "$QUOTA_SILO_DLL" \
  --urls http://127.0.0.1:18083 \
  --Quota:Cluster:SiloPort=21113 --Quota:Cluster:GatewayPort=40003 \
  --Quota:Policies:Users:0:Name=per-minute --Quota:Policies:Users:0:Algorithm=sliding-window \
  --Quota:Policies:Users:0:Limit=1000000000 --Quota:Policies:Users:0:Window=00:01:00 \
  --Quota:Policies:Resources:0:Name=slots --Quota:Policies:Resources:0:Policies:0:Name=in-flight \
  --Quota:Policies:Resources:0:Policies:0:Algorithm=concurrency --Quota:Policies:Resources:0:Policies:0:Limit=1 \
  --Quota:Policies:Resources:0:Policies:0:LeaseTtl=01:00:00 \
  --Logging:LogLevel:Default=Warning "$@" >/tmp/quota-stop-silo.log 2>&1 &
SILO=$!
trap 'kill $SILO 2>/dev/null || true' EXIT
for _ in $(seq 1 150); do curl -sf http://127.0.0.1:18083/healthz >/dev/null && break; sleep 0.2; done

dotnet tests/Quota.Benchmarks/bin/Release/net10.0/Quota.Benchmarks.dll stop \
  --http http://127.0.0.1:18083 --connections "$CONNECTIONS" --waiters "$WAITERS" --pid "$SILO" --after 3 --retry-after "$RETRY_AFTER"
set +e
wait $SILO
echo "silo exit code: $?"
