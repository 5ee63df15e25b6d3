#!/usr/bin/env bash
# What durable counters cost a decision: the same load (tests/Quota.Benchmarks DecisionLoad) against one silo on its
# embedded default and one silo on PostgreSQL (a throwaway server), each user holding a sliding window and a daily
# calendar quota far above what the machine reaches, so every decision grants and the calendar counter is
# checkpointed (write-behind claims; a request that outruns its claim waits for one write).
# Usage: tests/Quota.Benchmarks/run-durable.sh [seconds-per-round] [rounds]
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_PER_POINT="${1:-3}"
ROUNDS="${2:-3}"
dotnet build -c Release -v q silo/Quota.Silo.csproj
dotnet build -c Release -v q tests/Quota.Benchmarks/Quota.Benchmarks.csproj

source tests/Quota.Benchmarks/pg-start.sh
start_postgres durable 25432

POLICIES=(
  --Quota:Policies:Users:0:Name=per-minute --Quota:Policies:Users:0:Algorithm=sliding-window
  --Quota:Policies:Users:0:Limit=1000000000 --Quota:Policies:Users:0:Window=00:01:00
  --Quota:Policies:Users:1:Name=daily --Quota:Policies:Users:1:Algorithm=calendar
  --Quota:Policies:Users:1:Limit=1000000000 --Quota:Policies:Users:1:Period=day --Quota:Policies:Users:1:TimeZone=UTC
)

run() {
  local label="$1"; shift
  dotnet silo/bin/Release/net10.0/quota-silo.dll --urls http://127.0.0.1:18080 \
    --Quota:Cluster:SiloPort=21111 --Quota:Cluster:GatewayPort=40000 \
    "${POLICIES[@]}" "$@" --Logging:LogLevel:Default=Warning >"$WORK/silo-$label.log" 2>&1 &
  SILO=$!
  for _ in $(seq 1 150); do curl -sf http://127.0.0.1:18080/healthz >/dev/null && break; sleep 0.2; done
  echo "### $label"
  dotnet tests/Quota.Benchmarks/bin/Release/net10.0/Quota.Benchmarks.dll decisions \
    --gateway 127.0.0.1:40000 --http http://127.0.0.1:18080 --users 10000 --seconds "$SECONDS_PER_POINT" --rounds "$ROUNDS"
  kill "$SILO"; wait "$SILO" 2>/dev/null || true; SILO=
}

run "embedded default (memory, no checkpoints)"
run "PostgreSQL (checkpoints on)" --Quota:Storage:Provider=postgres \
  "--ConnectionStrings:Quota=Host=127.0.0.1;Port=$PG_PORT;Database=quota;Username=quota;Maximum Pool Size=100" \
  --Quota:Secrets:MasterKeys:0=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY= --Quota:Secrets:Pepper=benchmark-pepper-0123456789
