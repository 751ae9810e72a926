#!/usr/bin/env bash
# One interleaved sitting of the channel benchmark's MemoryPack record rows against CPython's Queue
# (issue 14, point 4: both 4->4 and 1->1 at >= 30x). Each round, for P = 4 then 1: ours
# (channel-drain, then pipe-drain: one TryWrite, WriteAsync when full, per record; one TryRead per
# record) and CPython's multiprocessing.Queue with the same counts; ours first in odd rounds, CPython
# first in even ones. Prints every run and then medians, the ratio of medians, the per-round range,
# and how many rounds reached 30x. Build first: dotnet build bench/Multiprocessing.Benchmarks -c Release
#
#   bench/scripts/channel-records-sitting.sh                  # 6 rounds of 500,000 messages
#   ROUNDS=8 N=500000 OUT=/tmp/sitting.jsonl bench/scripts/channel-records-sitting.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-6}
N=${N:-500000}
OUT=${OUT:-/tmp/channel-records-sitting.jsonl}
DLL=${DLL:-bench/Multiprocessing.Benchmarks/bin/Release/net10.0/Multiprocessing.Benchmarks.dll}
PY=${PY:-/usr/bin/python3}
PAYLOAD=${PAYLOAD:-order-memorypack}   # or order-memorypack-utf16: the same record, strings as UTF-16
: > "$OUT"

ours() { # P round
  for impl in channel-drain pipe-drain; do
    line=$(dotnet "$DLL" channels run "$impl" "$PAYLOAD" "$1" "$N" | grep '^{')
    echo "{\"side\":\"ours\",\"round\":$2,\"pairs\":$1,\"run\":$line}" | tee -a "$OUT"
  done
}
cpython() { # P round
  line=$("$PY" bench/python/channel_peer.py run --kind queue --payload record --producers "$1" --consumers "$1" --n "$N" | grep '^{')
  echo "{\"side\":\"cpython\",\"round\":$2,\"pairs\":$1,\"load\":\"$(cut -d' ' -f1-3 /proc/loadavg)\",\"run\":$line}" | tee -a "$OUT"
}

echo "# $(date -u '+%Y-%m-%d %H:%M') UTC, $(git rev-parse --short HEAD), payload $PAYLOAD, nproc $(nproc), load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$ROUNDS"); do
  for p in 4 1; do
    if (( r % 2 == 1 )); then ours "$p" "$r"; cpython "$p" "$r"; else cpython "$p" "$r"; ours "$p" "$r"; fi
  done
done
echo "# end $(date -u '+%H:%M') UTC, load $(cut -d' ' -f1-3 /proc/loadavg)"

"$PY" - "$OUT" <<'PYEOF'
import json, statistics as st, sys, collections
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
queue = collections.defaultdict(dict)
ours = collections.defaultdict(list)
for r in rows:
    if r["side"] == "cpython":
        queue[r["pairs"]][r["round"]] = r["run"]["msgs_per_s"]
    else:
        ours[(r["pairs"], r["run"]["impl"])].append((r["round"], r["run"]))
print("| cell | CPython Queue msgs/s | ours msgs/s | ours / Queue [per-round] | rounds >= 30x | CPU ns/msg producers / consumers | JIT methods in the timed part |")
print("|---|---|---|---|---|---|---|")
for p in (4, 1):
    q = list(queue[p].values())
    for impl in ("channel-drain", "pipe-drain"):
        runs = ours[(p, impl)]
        rates = [d["msgs_per_s"] for _, d in runs]
        per = [d["msgs_per_s"] / queue[p][r] for r, d in runs if r in queue[p]]
        med = lambda f: st.median([d[f] for _, d in runs])
        print(f"| {p}->{p} {impl} | {st.median(q)/1e3:.1f} k [{min(q)/1e3:.1f}-{max(q)/1e3:.1f}] | {st.median(rates)/1e6:.2f} M [{min(rates)/1e6:.2f}-{max(rates)/1e6:.2f}] "
              f"| {st.median(rates)/st.median(q):.1f}x [{min(per):.1f}-{max(per):.1f}] | {sum(x >= 30 for x in per)} of {len(per)} "
              f"| {med('producer_cpu_ns_per_msg'):.0f} / {med('consumer_cpu_ns_per_msg'):.0f} | {med('producer_jitted'):.0f} / {med('consumer_jitted'):.0f} |")
PYEOF
