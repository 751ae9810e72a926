#!/usr/bin/env bash
# Loads HybridApi with wrk, against 127.0.0.1 only: the CPU-bound endpoint run inline (on the
# request thread) and on the process pool, each time with a second wrk measuring /health, a
# trivial endpoint, to show whether request threads stay free. Prints wrk's reports as they are.
#   ./load.sh                         N=200000 DURATION=20s CONNECTIONS=16 PORT=5080
# Needs wrk (apt-get install -y wrk) and the .NET SDK.
set -euo pipefail
cd "$(dirname "$0")"
PORT=${PORT:-5080}
N=${N:-200000}
DURATION=${DURATION:-20s}
CONNECTIONS=${CONNECTIONS:-16}
BASE="http://127.0.0.1:$PORT"
LOG=$(mktemp)

dotnet build -c Release --nologo -v q >/dev/null
ASPNETCORE_ENVIRONMENT=Production dotnet bin/Release/net10.0/HybridApi.dll --urls "$BASE" >"$LOG" 2>&1 &
app=$!
# SIGTERM: the host stops gracefully and the pool stops its workers.
trap 'kill -TERM $app 2>/dev/null; wait $app 2>/dev/null; rm -f "$LOG" "$LOG.health"' EXIT
for _ in $(seq 1 120); do
  curl -sf "$BASE/health" >/dev/null && break
  sleep 0.5
done
curl -sf "$BASE/health" >/dev/null || { echo "HybridApi did not start:"; cat "$LOG"; exit 1; }

echo "HybridApi on $BASE, pid $app, workers: $(curl -s "$BASE/pool")"
echo "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
# Warm-up: JIT in the server and in the workers, thread pool growth.
wrk -t1 -c2 -d3s "$BASE/primes/inline?n=$N" >/dev/null
wrk -t1 -c2 -d3s "$BASE/primes/pool?n=$N" >/dev/null

for mode in inline pool; do
  echo
  echo "=== wrk -t2 -c$CONNECTIONS -d$DURATION --latency '$BASE/primes/$mode?n=$N'"
  echo "    with, meanwhile, wrk -t1 -c1 -d$DURATION --latency '$BASE/health'"
  wrk -t1 -c1 -d"$DURATION" --latency "$BASE/health" >"$LOG.health" &
  health=$!
  wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency "$BASE/primes/$mode?n=$N"
  wait $health
  echo "--- /health meanwhile:"
  cat "$LOG.health"
done
echo
echo "workers after the runs: $(curl -s "$BASE/pool")"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews the figures; compare runs made in a quiet minute)"
