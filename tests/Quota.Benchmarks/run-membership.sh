#!/usr/bin/env bash
# Membership changes under load (issue 19): for each scenario, a throwaway PostgreSQL server (a fresh database), real
# silo processes on loopback in its PostgreSQL mode (2 silos for join, 3 for the others), and steady load from an
# Orleans client that follows the cluster (Quota:Client:Clustering=postgres, default refresh) and over HTTP (a balancer's
# rotation: a silo is added once it answers, removed before it is stopped or killed), on a daily and an hour-long hot key
# and on spread daily keys. Scenarios: join, leave (SIGTERM), rolling (each of three replaced by a new one), kill
# (SIGKILL of the silo hosting the most user subjects). Prints a line per scenario and a markdown table.
# Usage: tests/Quota.Benchmarks/run-membership.sh [--scenarios join,leave,rolling,kill] [--hot-limit 3000] [--spread-keys 200]
#          [--spread-limit 40] [--client-workers 16] [--http-workers 16] [--before 4000] [--after 12000] [--after-seconds 25]
# The silos are silo/bin/Release (QUOTA_SILO_DLL=path/quota-silo.dll runs another build; QUOTA_BUILD=0 skips building).
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "${QUOTA_BUILD:-1}" != 0 ]; then
  dotnet build -c Release -v q silo/Quota.Silo.csproj
  dotnet build -c Release -v q tests/Quota.Benchmarks/Quota.Benchmarks.csproj
fi
ulimit -n "$(ulimit -Hn)"
echo "commit $(git rev-parse --short HEAD), $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)"
dotnet tests/Quota.Benchmarks/bin/Release/net10.0/Quota.Benchmarks.dll membership "$@"
