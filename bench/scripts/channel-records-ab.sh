#!/usr/bin/env bash
# Interleaved A/B of the channel benchmark's MemoryPack record rows between builds, with CPython's
# multiprocessing.Queue once per round and P as the yardstick. For library changes on a shared
# machine: judge by CPU ns per message and by medians over rounds, pairing runs of the same round.
# Each round, for each cell (channel-drain 4, pipe-drain 4, channel-drain 1, pipe-drain 1), runs
# every build (and the Queue, once per P); the order reverses every other round.
#
#   ROUNDS=4 OUT=/tmp/ab.jsonl bench/scripts/channel-records-ab.sh base=/path/to/bin/Release/net10.0 new=bench/Multiprocessing.Benchmarks/bin/Release/net10.0 py=-
#
# A build is name=directory holding Multiprocessing.Benchmarks.dll (copy a build's output directory
# aside to keep it while you change the code); the name py runs CPython instead. Prints the table at the end.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-4}; N=${N:-500000}; OUT=${OUT:-/tmp/channel-records-ab.jsonl}
PY=${PY:-/usr/bin/python3}
CELLS=${CELLS:-"channel-drain:4 pipe-drain:4 channel-drain:1 pipe-drain:1"}
builds=("$@")
: > "$OUT"
echo "# $(date -u '+%Y-%m-%d %H:%M') UTC, nproc $(nproc), load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$ROUNDS"); do
  if (( r % 2 == 0 )); then mapfile -t order < <(printf '%s\n' "${builds[@]}" | tac); else order=("${builds[@]}"); fi
  for cell in $CELLS; do
    impl=${cell%:*}; p=${cell#*:}
    for b in "${order[@]}"; do
      name=${b%%=*}; dir=${b#*=}
      if [[ $name == py ]]; then
        [[ $impl == channel-drain ]] || continue
        line=$("$PY" bench/python/channel_peer.py run --kind queue --payload record --producers "$p" --consumers "$p" --n "$N" | grep '^{' \
          | sed 's/^{/{"impl":"queue","producer_cpu_ns_per_msg":0,"consumer_cpu_ns_per_msg":0,"producer_fallbacks":0,"consumer_async_waits":0,/')
      else
        line=$(dotnet "$dir/Multiprocessing.Benchmarks.dll" channels run "$impl" order-memorypack "$p" "$N" | grep '^{')
      fi
      echo "{\"build\":\"$name\",\"round\":$r,\"pairs\":$p,\"load\":\"$(cut -d' ' -f1 /proc/loadavg)\",\"run\":$line}" | tee -a "$OUT"
    done
  done
done
echo "# end $(date -u '+%H:%M') UTC, load $(cut -d' ' -f1-3 /proc/loadavg)"
"$PY" - "$OUT" <<'PYEOF'
import json, sys, statistics as st, collections
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
q = {(r["pairs"], r["round"]): r["run"]["msgs_per_s"] for r in rows if r["build"] == "py"}
g = collections.defaultdict(list)
for r in rows:
    if r["build"] != "py":
        g[(r["pairs"], r["run"]["impl"], r["build"])].append(r)
cpu = lambda x: x["run"]["producer_cpu_ns_per_msg"] + x["run"]["consumer_cpu_ns_per_msg"]
print("| cell | build | msgs/s | CPU ns/msg p+c (p / c) | CPython Queue msgs/s | ours / Queue [per round] | rounds >= 30x |")
print("|---|---|---|---|---|---|---|")
for k in sorted(g, key=lambda k: (-k[0], k[1], k[2])):
    rs, p = g[k], k[0]
    m = [x["run"]["msgs_per_s"] for x in rs]; c = [cpu(x) for x in rs]
    pc = st.median([x["run"]["producer_cpu_ns_per_msg"] for x in rs]); cc = st.median([x["run"]["consumer_cpu_ns_per_msg"] for x in rs])
    qs = [q[(p, x["round"])] for x in rs if (p, x["round"]) in q]
    per = [x["run"]["msgs_per_s"] / q[(p, x["round"])] for x in rs if (p, x["round"]) in q]
    ratio = f"{st.median(m)/st.median(qs):.1f}x [{min(per):.1f}-{max(per):.1f}] | {sum(v >= 30 for v in per)} of {len(per)}" if qs else "n/a | n/a"
    qtext = f"{st.median(qs)/1e3:.1f} k" if qs else "n/a"
    print(f"| {p}->{p} {k[1]} | {k[2]} | {st.median(m)/1e6:.2f} M [{min(m)/1e6:.2f}-{max(m)/1e6:.2f}] | {st.median(c):.0f} [{min(c):.0f}-{max(c):.0f}] ({pc:.0f} / {cc:.0f}) | {qtext} | {ratio} |")
PYEOF
