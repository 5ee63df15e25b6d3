#!/usr/bin/env bash
# Queues (issue 22) measured against real silos: enqueue and lease-ack throughput on the embedded default and on
# PostgreSQL (a throwaway server; every item a row), then, on the embedded silo, dispatch accuracy (workers competing
# for a queue under a 20-per-5-s fixed window: dispatched/limit per full window) and the planner's finish time
# against a measured drain. About 90 s after the builds. Run it under nice on a shared machine:
#   nice tests/Quota.Benchmarks/run-queues.sh [seconds-per-throughput-phase] [workers]
#   QUOTA_BUILD=0 QUOTA_QUEUE_RUNS=postgres nice tests/Quota.Benchmarks/run-queues.sh 3 4   # the PostgreSQL run only
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_PER_PHASE="${1:-3}"
WORKERS="${2:-4}"
[ "${QUOTA_BUILD:-1}" = 0 ] || dotnet build -c Release -v q silo/Quota.Silo.csproj
[ "${QUOTA_BUILD:-1}" = 0 ] || dotnet build -c Release -v q tests/Quota.Benchmarks/Quota.Benchmarks.csproj

source tests/Quota.Benchmarks/pg-start.sh
start_postgres queues 25433

run() {
  local label="$1" parts="$2"; shift 2
  dotnet silo/bin/Release/net10.0/quota-silo.dll --urls http://127.0.0.1:18090 \
    --Quota:Cluster:SiloPort=21121 --Quota:Cluster:GatewayPort=40010 --Quota:Rls:Url=http://127.0.0.1:19090 \
    "$@" --Logging:LogLevel:Default=Warning >"$WORK/silo-$parts.log" 2>&1 &
  SILO=$!
  for _ in $(seq 1 150); do curl -sf http://127.0.0.1:18090/healthz >/dev/null && break; sleep 0.2; done
  echo "### $label"
  dotnet tests/Quota.Benchmarks/bin/Release/net10.0/Quota.Benchmarks.dll queues \
    --gateway 127.0.0.1:40010 --http http://127.0.0.1:18090 --seconds "$SECONDS_PER_PHASE" --workers "$WORKERS" --parts "$parts"
  kill "$SILO"; wait "$SILO" 2>/dev/null || true; SILO=
}

# QUOTA_QUEUE_RUNS picks the runs (default both): "postgres" alone repeats the PostgreSQL throughput figures.
RUNS="${QUOTA_QUEUE_RUNS:-embedded postgres}"
[[ " $RUNS " != *" embedded "* ]] || run "embedded default (items in memory)" all
[[ " $RUNS " != *" postgres "* ]] || run "PostgreSQL (every item a row)" throughput --Quota:Storage:Provider=postgres --Quota:Admin:AllowLoopback=true \
  "--ConnectionStrings:Quota=Host=127.0.0.1;Port=$PG_PORT;Database=quota;Username=quota;Maximum Pool Size=100" \
  --Quota:Secrets:MasterKeys:0=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY= --Quota:Secrets:Pepper=benchmark-pepper-0123456789
