#!/usr/bin/env bash
# Decisions per second for a request naming a tenant (its allowance and the choice of one of four pooled tokens)
# next to a bare grain call and a user decision, against a real silo from a separate process, alternating rounds.
# Usage: tests/Quota.Benchmarks/run-tenancy.sh [seconds-per-round] [rounds] [tenants]
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_PER_POINT="${1:-3}"
ROUNDS="${2:-3}"
TENANTS="${3:-100}"
dotnet build -c Release -v q silo/Quota.Silo.csproj
dotnet build -c Release -v q tests/Quota.Benchmarks/Quota.Benchmarks.csproj

dotnet silo/bin/Release/net10.0/quota-silo.dll \
  --urls http://127.0.0.1:18081 \
  --Quota:Cluster:SiloPort=21112 --Quota:Cluster:GatewayPort=40001 \
  --Quota:Policies:Users:0:Name=per-minute --Quota:Policies:Users:0:Algorithm=sliding-window \
  --Quota:Policies:Users:0:Limit=1000000000 --Quota:Policies:Users:0:Window=00:01:00 \
  --Logging:LogLevel:Default=Warning >/tmp/quota-bench-tenancy-silo.log 2>&1 &
SILO=$!
trap 'kill $SILO 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -sf http://127.0.0.1:18081/healthz >/dev/null && break; sleep 0.2; done

dotnet tests/Quota.Benchmarks/bin/Release/net10.0/Quota.Benchmarks.dll decisions \
  --gateway 127.0.0.1:40001 --http http://127.0.0.1:18081 --users 10000 --tenants "$TENANTS" \
  --seconds "$SECONDS_PER_POINT" --rounds "$ROUNDS"
