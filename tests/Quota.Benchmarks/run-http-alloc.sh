#!/usr/bin/env bash
# Bytes the silo allocates per HTTP decision (docs/benchmarks.md, "Quota's HTTP front door"): starts a Release silo
# (the compare run's policies), warms it with the compare harness over HTTP, then divides the growth of its own
# dotnet_gc_heap_total_allocated_bytes_total by that of http_server_request_duration_seconds_count over a second run.
# Usage: tests/Quota.Benchmarks/run-http-alloc.sh SILO_DLL LABEL   (INFLIGHT=16, SECS=4; TRACE=1 also records a 6 s
# dotnet-trace of GC allocation ticks to /tmp/alloc-LABEL.nettrace and measures over a 12 s run). Builds nothing:
# run `dotnet build -c Release silo tests/Quota.Benchmarks` first.
set -uo pipefail
cd "$(dirname "$0")/../.."
DLL=$1; L=1000000000
R() { local i=$1; echo "--Quota:Policies:Resources:$i:Name=$2 --Quota:Policies:Resources:$i:Policies:0:Name=per-x --Quota:Policies:Resources:$i:Policies:0:Algorithm=$3 --Quota:Policies:Resources:$i:Policies:0:Limit=$4 --Quota:Policies:Resources:$i:Policies:0:Window=$5"; }
dotnet $DLL --urls http://127.0.0.1:18180 --Quota:Cluster:SiloPort=21180 --Quota:Cluster:GatewayPort=40180 \
  --Quota:Scheduler:Enabled=false --Quota:Rls:Url= --Quota:Limits:MaxQueueDelay=00:00:00 \
  --Quota:Policies:Users:0:Name=per-minute --Quota:Policies:Users:0:Algorithm=sliding-window --Quota:Policies:Users:0:Limit=$L --Quota:Policies:Users:0:Window=00:01:00 \
  $(R 0 'bench-a:*' sliding-window $L 00:01:00) $(R 1 'bench-b:*' sliding-window $L 00:01:00) $(R 2 'bench-acc:*' sliding-log 2000 01:00:00) \
  --Logging:LogLevel:Default=Warning > /tmp/alloc-silo.log 2>&1 &
SILO=$!
trap 'kill $SILO 2>/dev/null' EXIT
for _ in $(seq 150); do curl -sf http://127.0.0.1:18180/healthz >/dev/null && break; sleep 0.2; done
scrape() { curl -s http://127.0.0.1:18180/metrics | awk '/^dotnet_gc_heap_total_allocated_bytes_total/{a=$2} /^http_server_request_duration_seconds_count/{n+=$2} END{printf "%d %d\n", a, n}'; }
run() { dotnet tests/Quota.Benchmarks/bin/Release/net10.0/Quota.Benchmarks.dll compare --systems quota-http --http http://127.0.0.1:18180 \
  --inflight $1 --hot-inflight $1 --three-inflight $1 --accuracy-inflight 1 --seconds $2 --rounds 1 --warmup 1 --keys 10000 > /tmp/alloc-load.log 2>&1; }
run 16 3   # warm-up: every user activated, code tiered
read A0 N0 < <(scrape)
if [ -n "${TRACE:-}" ]; then
  run ${INFLIGHT:-16} 12 &
  LOADP=$!
  sleep 3
  ~/.dotnet/tools/dotnet-trace collect -p $SILO --providers Microsoft-Windows-DotNETRuntime:0x1:5 --duration 00:00:00:06 -o /tmp/alloc-$2.nettrace > /dev/null 2>&1
  wait $LOADP
else
  run ${INFLIGHT:-16} ${SECS:-4}
fi
read A1 N1 < <(scrape)
echo "$2: $(( (A1 - A0) / (N1 - N0) )) bytes per request over $((N1 - N0)) requests"
grep "^| distinct\|^| hot\|^| three" /tmp/alloc-load.log | sed "s/^/$2 /"
