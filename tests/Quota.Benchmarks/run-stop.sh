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
source tests/Quota.Benchmarks/silo-start.sh
start_silo 18083 21113 40003 /tmp/quota-stop-silo.log \
  --Quota:Policies:Resources:0:Name=slots --Quota:Policies:Resources:0:Policies:0:Name=in-flight \
  --Quota:Policies:Resources:0:Policies:0:Algorithm=concurrency --Quota:Policies:Resources:0:Policies:0:Limit=1 \
  --Quota:Policies:Resources:0:Policies:0:LeaseTtl=01:00:00

dotnet tests/Quota.Benchmarks/bin/Release/net10.0/Quota.Benchmarks.dll stop \
  --http http://127.0.0.1:18083 --connections "$CONNECTIONS" --waiters "$WAITERS" --pid "$SILO" --after 3 --retry-after "$RETRY_AFTER"
set +e
wait $SILO
echo "silo exit code: $?"
