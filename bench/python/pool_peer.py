#!/usr/bin/env python3
"""CPython peer for the Multiprocessing for .NET pool benchmarks.

Each subcommand measures one thing with the standard library's multiprocessing.Pool and prints
one JSON object on stdout. The .NET side (`Multiprocessing.Benchmarks sidebyside`) runs this
script once per round, interleaved with its own runs, so both are measured in the same sitting.

    pool_peer.py map --n 1000000 [--chunksize auto|K] [--start fork|spawn] [--workers 2]
    pool_peer.py roundtrip --n 20000 [--start fork|spawn]
    pool_peer.py start [--start fork|spawn]
    pool_peer.py idle [--start spawn|fork]

Standard library only. Worker functions live at module level and everything else runs under the
__main__ guard, as the spawn start method requires.
"""

import argparse
import json
import multiprocessing
import os
import sys
import time


def double(x):
    """The trivial task: the same x * 2 as the .NET side's Workloads.Double."""
    return x * 2


def _signal_ready(semaphore):
    """Pool initializer for `idle`: tells the parent this worker has started, without running a task."""
    semaphore.release()


def _percentile(sorted_values, fraction):
    # Same index rule as the C floor's report_latencies: lat[(int)(n * fraction)].
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * fraction))]


def _smaps_rollup(pid):
    """Rss, Pss and Uss (private clean + dirty) of one process in bytes, from /proc/PID/smaps_rollup."""
    fields = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[2] == "kB":
                fields[parts[0].rstrip(":")] = int(parts[1]) * 1024
    return {
        "rss": fields.get("Rss", 0),
        "pss": fields.get("Pss", 0),
        "uss": fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0),
    }


def _count_mappers(path):
    """How many processes map `path`: PSS splits the pages of that file among all of them."""
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/maps") as f:
                    if any(path in line for line in f):
                        count += 1
            except OSError:
                pass
    return count


def cmd_map(args, ctx):
    chunksize = None if args.chunksize == "auto" else int(args.chunksize)
    with ctx.Pool(args.workers) as pool:
        # Warm up: workers started and the function's path exercised before the clock starts.
        pool.map(double, range(max(2000, args.workers * 100)), chunksize)
        t0 = time.perf_counter()
        results = pool.map(double, range(args.n), chunksize)
        seconds = time.perf_counter() - t0
        if len(results) != args.n or results[-1] != (args.n - 1) * 2:
            raise SystemExit("wrong results")
    return {"items": args.n, "chunksize": args.chunksize, "seconds": seconds, "items_per_s": args.n / seconds}


def cmd_roundtrip(args, ctx):
    with ctx.Pool(args.workers) as pool:
        for i in range(args.warmup):
            pool.apply_async(double, (i,)).get()
        latencies = []
        clock = time.perf_counter_ns
        for i in range(args.n):
            t0 = clock()
            pool.apply_async(double, (i,)).get()
            latencies.append(clock() - t0)
    latencies.sort()
    return {
        "n": args.n,
        "p50_us": _percentile(latencies, 0.50) / 1e3,
        "p99_us": _percentile(latencies, 0.99) / 1e3,
        "min_us": latencies[0] / 1e3,
    }


def cmd_start(args, ctx):
    # The clock starts where the .NET side's starts: just before the pool is created. Interpreter
    # start and `import multiprocessing` are outside it, as the .NET runtime's start is on its side.
    t0 = time.perf_counter()
    pool = ctx.Pool(args.workers)
    pool.apply_async(double, (21,)).get()
    ms = (time.perf_counter() - t0) * 1e3
    print(json.dumps({"ms": ms}), flush=True)
    pool.terminate()
    pool.join()
    return None


def cmd_idle(args, ctx):
    ready = ctx.Semaphore(0)
    with ctx.Pool(args.workers, initializer=_signal_ready, initargs=(ready,)) as pool:
        for _ in range(args.workers):
            if not ready.acquire(timeout=60):
                raise SystemExit("workers did not start")
        time.sleep(args.settle)
        # Pool._pool is the list of worker Process objects (private, but stable since Python 3.2).
        pids = [p.pid for p in pool._pool]
        workers = [dict(pid=pid, **_smaps_rollup(pid)) for pid in pids]
        parent = _smaps_rollup(os.getpid())
        executable = os.path.realpath(sys.executable)
        sharers = _count_mappers(executable)
    return {"workers": workers, "parent": parent, "shared_file": executable, "sharers": sharers}


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("map", "roundtrip", "start", "idle"):
        p = sub.add_parser(name)
        p.add_argument("--start", choices=("fork", "spawn", "forkserver"), default="spawn" if name == "idle" else "fork")
        p.add_argument("--workers", type=int, default=2)
        if name == "map":
            p.add_argument("--n", type=int, default=1_000_000)
            p.add_argument("--chunksize", default="auto")
        if name == "roundtrip":
            p.add_argument("--n", type=int, default=20_000)
            p.add_argument("--warmup", type=int, default=1000)
        if name == "idle":
            p.add_argument("--settle", type=float, default=0.5)
    args = parser.parse_args(argv)
    ctx = multiprocessing.get_context(args.start)
    result = {"map": cmd_map, "roundtrip": cmd_roundtrip, "start": cmd_start, "idle": cmd_idle}[args.command](args, ctx)
    if result is not None:
        result.update(start_method=args.start, pool_size=args.workers, python=sys.version.split()[0])
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
