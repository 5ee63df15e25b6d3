#!/usr/bin/env bash
# Quota against the alternatives (issue 8), side by side in one run: Quota through its Orleans client and over HTTP
# (a silo started here), Redis 7 with a sliding-log and a GCRA Lua script (a server started here) and behind a minimal
# ASP.NET Core service (Compare/RedisFront.cs, a process started here), PostgreSQL with a
# conditional UPDATE (a throwaway server the harness starts and stops) and System.Threading.RateLimiting in the
# harness process. Same workloads on every system, closed loop, alternating rounds, median round reported; see
# docs/benchmarks.md "Quota against the alternatives". Prints markdown tables; writes docs/img/compare-results.json
# and the plots docs/img/compare-{throughput,latency}.{svg,png}.
# Everything started here listens on 127.0.0.1 only and is stopped by its process id when the script exits.
# Usage: tests/Quota.Benchmarks/run-compare.sh [seconds-per-point] [rounds]
#   QUOTA_COMPARE_OUT=DIR      where the plots and the JSON go (default: docs/img)
#   QUOTA_COMPARE_SYSTEMS=LIST a subset, e.g. quota-orleans,redis-log (default: all)
#   QUOTA_PG_BIN=DIR           PostgreSQL server binaries (default: the newest /usr/lib/postgresql/*/bin)
#   QUOTA_SILO_ENV="A=1 B=2"   environment variables for the silo process only (runtime settings to compare)
#   QUOTA_COMPARE_ARGS="..."   more harness options, e.g. "--inflight 1,256" (the distinct-keys points), see
#                              Compare/CompareLoad.cs Parse for the rest
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_PER_POINT="${1:-5}"
ROUNDS="${2:-5}"
OUT="${QUOTA_COMPARE_OUT:-docs/img}"
SYSTEMS="${QUOTA_COMPARE_SYSTEMS:-all}"
ACCURACY_LIMIT=2000   # per hour, sliding log: nothing refills during a run
THROUGHPUT_LIMIT=1000000000   # per minute: far above what the machine reaches, so every decision is granted

# Prerequisites, all checked before anything is built or started.
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=("redis-server (Redis 7): apt-get update && apt-get install -y redis-server")
command -v redis-cli >/dev/null 2>&1 || missing+=("redis-cli: apt-get update && apt-get install -y redis-tools")
if [ -n "${QUOTA_PG_BIN:-}" ]; then
  [ -x "$QUOTA_PG_BIN/initdb" ] || missing+=("PostgreSQL: QUOTA_PG_BIN=$QUOTA_PG_BIN has no initdb")
elif ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  missing+=("PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb): apt-get update && apt-get install -y postgresql")
fi
command -v curl >/dev/null 2>&1 || missing+=("curl: apt-get update && apt-get install -y curl")
command -v dotnet >/dev/null 2>&1 || missing+=("the .NET 10 SDK (dotnet): see global.json")
if [ ${#missing[@]} -gt 0 ]; then
  echo "run-compare.sh: missing prerequisites; install them and run again:" >&2
  printf '  - %s\n' "${missing[@]}" >&2
  exit 1
fi

dotnet build -c Release -v q silo/Quota.Silo.csproj
dotnet build -c Release -v q tests/Quota.Benchmarks/Quota.Benchmarks.csproj

WORK="$(mktemp -d /tmp/quota-compare-XXXX)"
SILO=
REDIS=
FRONT=
cleanup() {
  [ -n "$SILO" ] && kill "$SILO" 2>/dev/null && wait "$SILO" 2>/dev/null || true
  [ -n "$FRONT" ] && kill "$FRONT" 2>/dev/null && wait "$FRONT" 2>/dev/null || true
  [ -n "$REDIS" ] && kill "$REDIS" 2>/dev/null && wait "$REDIS" 2>/dev/null || true
  # The harness stops its PostgreSQL server itself; this is for when the harness was killed first. The file holds the
  # postmaster's id and its temporary directory (pg.pid, written by the harness).
  if [ -s "$WORK/pg.pid" ]; then
    local pid dir
    pid="$(sed -n 1p "$WORK/pg.pid")"; dir="$(sed -n 2p "$WORK/pg.pid")"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill -INT "$pid" 2>/dev/null || true   # fast shutdown
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    case "$dir" in /tmp/quota-pg-*) rm -rf "$dir" ;; esac
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# Free loopback ports: random candidates below the kernel's ephemeral range (a port there may be the local end of
# some outgoing connection, or one in TIME_WAIT after an earlier run, and then a listener cannot bind it), that no
# socket uses and nothing answers on, distinct from each other.
EPHEMERAL_LOW="$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)"
[ "$EPHEMERAL_LOW" -gt 12000 ] || EPHEMERAL_LOW=32768
TAKEN=" "
free_port() {
  local port
  for _ in $(seq 1 200); do
    port=$((10000 + RANDOM % (EPHEMERAL_LOW - 10000)))
    case "$TAKEN" in *" $port "*) continue ;; esac
    if command -v ss >/dev/null 2>&1 && [ -n "$(ss -Htan "( sport = :$port )" 2>/dev/null)" ]; then
      continue
    fi
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      TAKEN="$TAKEN$port "
      echo "$port"
      return
    fi
  done
  echo "run-compare.sh: no free loopback port found" >&2
  exit 1
}
REDIS_PORT="$(free_port)"; HTTP_PORT="$(free_port)"; SILO_PORT="$(free_port)"; GATEWAY_PORT="$(free_port)"; FRONT_PORT="$(free_port)"

# Redis: persistence off, loopback only.
redis-server --save "" --appendonly no --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$WORK" \
  --logfile "$WORK/redis.log" --daemonize no &
REDIS=$!

# Quota: the embedded default (memory storage), policies for the comparison's subjects (Compare/QuotaSystems.cs):
# every user and the resources bench-a:*, bench-b:* far above what the machine reaches; bench-acc:* a sliding log of
# ACCURACY_LIMIT per hour. The scheduler is off: it has nothing to do here.
# shellcheck disable=SC2086 # QUOTA_SILO_ENV is a list of NAME=value words
env ${QUOTA_SILO_ENV:-} dotnet silo/bin/Release/net10.0/quota-silo.dll \
  --urls "http://127.0.0.1:$HTTP_PORT" \
  --Quota:Cluster:SiloPort="$SILO_PORT" --Quota:Cluster:GatewayPort="$GATEWAY_PORT" \
  --Quota:Scheduler:Enabled=false --Quota:Rls:Url= \
  --Quota:Policies:Users:0:Name=per-minute --Quota:Policies:Users:0:Algorithm=sliding-window \
  --Quota:Policies:Users:0:Limit=$THROUGHPUT_LIMIT --Quota:Policies:Users:0:Window=00:01:00 \
  --Quota:Policies:Resources:0:Name='bench-a:*' \
  --Quota:Policies:Resources:0:Policies:0:Name=per-minute --Quota:Policies:Resources:0:Policies:0:Algorithm=sliding-window \
  --Quota:Policies:Resources:0:Policies:0:Limit=$THROUGHPUT_LIMIT --Quota:Policies:Resources:0:Policies:0:Window=00:01:00 \
  --Quota:Policies:Resources:1:Name='bench-b:*' \
  --Quota:Policies:Resources:1:Policies:0:Name=per-minute --Quota:Policies:Resources:1:Policies:0:Algorithm=sliding-window \
  --Quota:Policies:Resources:1:Policies:0:Limit=$THROUGHPUT_LIMIT --Quota:Policies:Resources:1:Policies:0:Window=00:01:00 \
  --Quota:Policies:Resources:2:Name='bench-acc:*' \
  --Quota:Policies:Resources:2:Policies:0:Name=per-hour --Quota:Policies:Resources:2:Policies:0:Algorithm=sliding-log \
  --Quota:Policies:Resources:2:Policies:0:Limit=$ACCURACY_LIMIT --Quota:Policies:Resources:2:Policies:0:Window=01:00:00 \
  --Logging:LogLevel:Default=Warning >"$WORK/silo.log" 2>&1 &
SILO=$!

for _ in $(seq 1 150); do
  redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG && break
  kill -0 "$REDIS" 2>/dev/null || { echo "redis-server exited:" >&2; cat "$WORK/redis.log" >&2; exit 1; }
  sleep 0.2
done
for _ in $(seq 1 150); do
  curl -sf "http://127.0.0.1:$HTTP_PORT/healthz" >/dev/null && break
  kill -0 "$SILO" 2>/dev/null || { echo "the silo exited:" >&2; cat "$WORK/silo.log" >&2; exit 1; }
  sleep 0.2
done
curl -sf "http://127.0.0.1:$HTTP_PORT/healthz" >/dev/null || { echo "the silo did not answer /healthz:" >&2; tail -50 "$WORK/silo.log" >&2; exit 1; }

# The minimal ASP.NET Core service in front of the same Redis (Compare/RedisFront.cs), its own process like the silo:
# the peer of Quota's HTTP front door (redis-http).
dotnet tests/Quota.Benchmarks/bin/Release/net10.0/Quota.Benchmarks.dll redis-front --redis "127.0.0.1:$REDIS_PORT" \
  --urls "http://127.0.0.1:$FRONT_PORT" --limit "$THROUGHPUT_LIMIT" --accuracy-limit "$ACCURACY_LIMIT" >"$WORK/front.log" 2>&1 &
FRONT=$!
for _ in $(seq 1 150); do
  curl -sf "http://127.0.0.1:$FRONT_PORT/healthz" >/dev/null && break
  kill -0 "$FRONT" 2>/dev/null || { echo "redis-front exited:" >&2; cat "$WORK/front.log" >&2; exit 1; }
  sleep 0.2
done

dotnet tests/Quota.Benchmarks/bin/Release/net10.0/Quota.Benchmarks.dll compare \
  --gateway "127.0.0.1:$GATEWAY_PORT" --http "http://127.0.0.1:$HTTP_PORT" --redis "127.0.0.1:$REDIS_PORT" --redis-http "http://127.0.0.1:$FRONT_PORT" \
  --pg-pid-file "$WORK/pg.pid" --systems "$SYSTEMS" \
  --seconds "$SECONDS_PER_POINT" --rounds "$ROUNDS" --keys 10000 --accuracy-limit "$ACCURACY_LIMIT" \
  --json "$OUT/compare-results.json" --plots "$OUT" --commit "$(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo '+changes')" ${QUOTA_COMPARE_ARGS:-}
