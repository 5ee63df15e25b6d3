#!/usr/bin/env bash
# Bytes of managed heap per idle subject grain (issue 8; tests/Quota.Benchmarks MemoryLoad.cs): a silo inside the
# harness process (memory storage, the scheduler off) activates user grains holding one sliding window each, taking one
# permit each, and measures the heap after full blocking collections against a baseline after start-up. Its silo
# listens on loopback ports 21113 and 40003 and ends with the process.
# Usage: tests/Quota.Benchmarks/run-memory.sh [subjects] [--ping] [--types] [--refused N]
#   subjects  comma-separated counts, measured cumulatively (default: 100000,1000000; a million subjects take several GB of heap)
#   --ping    the same with the smallest grain there is (Orleans' own cost per activation), for comparison
#   --types   also the heap by type at the end (a ClrMD snapshot of the process)
#   --refused N  instead, what requests anyone can send leave behind (issue 16): N requests of each kind naming a new
#             subject (unconfigured resource, unregistered key, usage read, peek, new user with an unconfigured
#             resource); the subject activations left and the heap's growth per request
set -euo pipefail
cd "$(dirname "$0")/../.."
SUBJECTS=100000,1000000
if [ $# -gt 0 ] && [[ $1 != --* ]]; then
  SUBJECTS=$1
  shift
fi
dotnet build -c Release -v q tests/Quota.Benchmarks/Quota.Benchmarks.csproj
dotnet tests/Quota.Benchmarks/bin/Release/net10.0/Quota.Benchmarks.dll memory --subjects "$SUBJECTS" "$@"
