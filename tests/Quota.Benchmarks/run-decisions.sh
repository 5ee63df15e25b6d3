#!/usr/bin/env bash
# Decisions per second against a real silo from a separate process: bare grain call vs. decision through the
# Orleans client vs. decision over HTTP, in alternating rounds (median reported).
# Usage: tests/Quota.Benchmarks/run-decisions.sh [seconds-per-round] [rounds]
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_PER_POINT="${1:-3}"
ROUNDS="${2:-3}"
dotnet build -c Release -v q silo/Quota.Silo.csproj
dotnet build -c Release -v q tests/Quota.Benchmarks/Quota.Benchmarks.csproj

# A user limit far above what the machine can reach, so every decision takes the grant path.
dotnet silo/bin/Release/net10.0/quota-silo.dll \
  --urls http://127.0.0.1:18080 \
  --Quota:Cluster:SiloPort=21111 --Quota:Cluster:GatewayPort=40000 \
  --Quota:Policies:Users:0:Name=per-minute --Quota:Policies:Users:0:Algorithm=sliding-window \
  --Quota:Policies:Users:0:Limit=1000000000 --Quota:Policies:Users:0:Window=00:01:00 \
  --Logging:LogLevel:Default=Warning >/tmp/quota-bench-silo.log 2>&1 &
SILO=$!
trap 'kill $SILO 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -sf http://127.0.0.1:18080/healthz >/dev/null && break; sleep 0.2; done

dotnet tests/Quota.Benchmarks/bin/Release/net10.0/Quota.Benchmarks.dll decisions \
  --gateway 127.0.0.1:40000 --http http://127.0.0.1:18080 --users 10000 --seconds "$SECONDS_PER_POINT" --rounds "$ROUNDS"
