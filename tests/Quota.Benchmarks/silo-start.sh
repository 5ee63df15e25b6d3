# Sourced by run-decisions.sh, run-tenancy.sh, run-overload.sh and run-stop.sh (from the repository root): the silo they measure, started the same way.
#   start_silo HTTP_PORT SILO_PORT GATEWAY_PORT LOG [silo arguments...]
# Builds the silo and the benchmarks in Release (QUOTA_BUILD=0 skips that; QUOTA_SILO_DLL=path/quota-silo.dll runs
# another build), raises the descriptor limit (each connection costs one on both ends), starts one silo on 127.0.0.1
# with a user limit the machine cannot reach (every decision takes the grant path), stops it on exit, and waits until
# it answers /healthz. Sets SILO to its process id.
start_silo() {
  local port=$1 silo_port=$2 gateway_port=$3 log=$4
  shift 4
  ulimit -n "$(ulimit -Hn)"
  if [ -z "${QUOTA_SILO_DLL:-}" ]; then
    [ "${QUOTA_BUILD:-1}" = 0 ] || dotnet build -c Release -v q silo/Quota.Silo.csproj
    QUOTA_SILO_DLL=silo/bin/Release/net10.0/quota-silo.dll
  fi
  [ "${QUOTA_BUILD:-1}" = 0 ] || dotnet build -c Release -v q tests/Quota.Benchmarks/Quota.Benchmarks.csproj

  dotnet "$QUOTA_SILO_DLL" \
    --urls "http://127.0.0.1:$port" \
    --Quota:Cluster:SiloPort="$silo_port" --Quota:Cluster:GatewayPort="$gateway_port" \
    --Quota:Rls:Url="http://127.0.0.1:$((port + 1000))" \
    --Quota:Policies:Users:0:Name=per-minute --Quota:Policies:Users:0:Algorithm=sliding-window \
    --Quota:Policies:Users:0:Limit=1000000000 --Quota:Policies:Users:0:Window=00:01:00 \
    --Logging:LogLevel:Default=Warning "$@" >"$log" 2>&1 &
  SILO=$!
  trap 'kill $SILO 2>/dev/null || true' EXIT
  for _ in $(seq 1 150); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done
}
