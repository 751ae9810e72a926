#!/usr/bin/env python3
"""Dask distributed peer for the Multiprocessing for .NET cluster benchmarks.

Each subcommand starts a dask.distributed LocalCluster of single-threaded worker processes on
loopback (127.0.0.1 only), measures one thing and prints one JSON object on stdout. The .NET side
(`mp bench`'s cluster group) runs this script once per round, interleaved with its own runs.

    cluster_peer.py map --n 100000 [--batch 0|B] [--workers 2]
    cluster_peer.py submit --n 2000 [--workers 2]
    cluster_peer.py kill --n 400 --sleep-ms 20 [--workers 2] [--kill-after 0.5]
    cluster_peer.py memory --bytes 1073741824 [--workers 4] [--deadline 840]

`map` with --batch 0 is one Dask task per item (client.map over the items); with --batch B the
items go in lists of B, one task per list, as a user who knows Dask's per-task cost would write it.
`kill` SIGKILLs one worker process part-way through a map of sleeping tasks and reports the time
to finish beside a run without a kill. `memory` scatters one numpy array of --bytes with
broadcast=True, has every worker read all of it, and reports total PSS of the client (which
runs the scheduler), the nannies and the workers (from /proc/PID/smaps_rollup), and the scatter time.

`memory` and its data: Dask's documented way to put one object on every worker is
`client.scatter(obj, broadcast=True)`, used here with Dask's defaults (through the scheduler, lz4
compression "auto", hash=True). Until 2026-12-06 the array was `np.ones` (all 1.0): with the
default "auto" compression Dask samples each frame, finds a constant array compresses, and lz4-
compresses the whole frame; on this machine that made the broadcast of 64 MiB to 4 workers take
106 s (1.8 s with compression off, 1.2 s with the data below), and 1 GiB did not finish in 15 min.
Neither side's array is constant now: both hold word i = i * 0x9E3779B97F4A7C15 (uint64, wrapping),
so no two words are alike, the sample does not compress and Dask sends the bytes as they are, as it
would for real data (embeddings, say). `direct=True` was tried and was not faster (256 s at 64 MiB
with the constant array, under load); `hash=False` only skips tokenizing, not the transfer.

Needs Debian's python3-distributed and python3-numpy (for /usr/bin/python3).
"""

import argparse
import json
import os
import signal
import statistics
import sys
import time


def inc(x):
    """The tiny task: the same x * 2 as the .NET side's workload."""
    return x * 2


def inc_batch(xs):
    return [x * 2 for x in xs]


def nap(x, ms):
    time.sleep(ms / 1000.0)
    return x * 2


def checksum(a):
    # Reads every byte of the worker's copy (or view) of the array.
    return int(a.view("uint8").sum(dtype="uint64"))


def _pss(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return 0
    return 0


def _cluster(workers, memory_limit="auto"):
    from dask.distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        memory_limit=memory_limit,
        silence_logs=40,
    )
    return cluster, Client(cluster)


def cmd_map(args):
    cluster, client = _cluster(args.workers)
    try:
        client.gather(client.map(inc, range(100), pure=False))  # warm
        items = list(range(args.n))
        t = time.perf_counter()
        if args.batch > 0:
            chunks = [items[i:i + args.batch] for i in range(0, len(items), args.batch)]
            results = [y for part in client.gather(client.map(inc_batch, chunks, pure=False)) for y in part]
        else:
            results = client.gather(client.map(inc, items, pure=False))
        elapsed = time.perf_counter() - t
        assert results == [x * 2 for x in items]
        return {"items": args.n, "batch": args.batch, "seconds": elapsed, "items_per_s": args.n / elapsed}
    finally:
        client.close()
        cluster.close()


def cmd_submit(args):
    cluster, client = _cluster(args.workers)
    try:
        for i in range(200):
            client.submit(inc, i, pure=False).result()
        lat = []
        for i in range(args.n):
            t = time.perf_counter()
            client.submit(inc, i, pure=False).result()
            lat.append((time.perf_counter() - t) * 1e6)
        lat.sort()
        return {"n": args.n, "p50_us": lat[len(lat) // 2], "p99_us": lat[min(len(lat) - 1, int(len(lat) * 0.99))]}
    finally:
        client.close()
        cluster.close()


def _timed_map(client, n, ms, kill_after=None):
    futures = client.map(nap, range(n), ms=ms, pure=False)
    t = time.perf_counter()
    killed = None
    if kill_after is not None:
        time.sleep(kill_after)
        pids = sorted(client.run(os.getpid).values())
        killed = pids[0]
        os.kill(killed, signal.SIGKILL)
    results = client.gather(futures)
    elapsed = time.perf_counter() - t
    assert results == [x * 2 for x in range(n)]
    return elapsed, killed


def cmd_kill(args):
    cluster, client = _cluster(args.workers)
    try:
        client.gather(client.map(inc, range(100), pure=False))
        clean, _ = _timed_map(client, args.n, args.sleep_ms)
        client.wait_for_workers(args.workers, timeout=60)
        killed_run, pid = _timed_map(client, args.n, args.sleep_ms, args.kill_after)
        return {"n": args.n, "sleep_ms": args.sleep_ms, "seconds_clean": clean, "seconds_with_kill": killed_run, "killed_pid": pid}
    finally:
        client.close()
        cluster.close()


def _on_deadline(signum, frame):
    raise TimeoutError("the memory run did not finish within its --deadline")


def cmd_memory(args):
    import numpy as np

    cluster, client = _cluster(args.workers, memory_limit=0)
    # Ends the run itself, through the finally below, before the runner's own limit kills the
    # process tree with SIGKILL, which leaves the workers' multiprocessing semaphores in /dev/shm.
    signal.signal(signal.SIGALRM, _on_deadline)
    signal.alarm(args.deadline)
    try:
        client.gather(client.map(inc, range(100), pure=False))  # every worker warm, as the .NET side's
        idle = {pid: _pss(pid) for pid in client.run(os.getpid).values()}
        # The same contents as the .NET side's array (word i = i * 0x9E3779B97F4A7C15, no two words
        # alike), not np.ones: Dask compresses frames with lz4 by default when a sample of them
        # compresses, and a constant array made scatter spend minutes in that (see the docstring).
        data = np.arange(args.bytes // 8, dtype="uint64")
        data *= np.uint64(0x9E3779B97F4A7C15)
        expected = int(data.view("uint8").sum(dtype="uint64"))
        t = time.perf_counter()
        [future] = client.scatter([data], broadcast=True)
        scatter_seconds = time.perf_counter() - t
        del data
        workers = list(client.scheduler_info()["workers"])
        sums = client.gather([client.submit(checksum, future, workers=[w], pure=False) for w in workers])
        assert all(s == expected for s in sums)
        worker_pids = list(client.run(os.getpid).values())
        # The nannies (each worker's parent process) are part of the cluster's footprint, as the .NET nodes are.
        nanny_pids = sorted(set(client.run(os.getppid).values()) - {os.getpid()})
        scheduler_pid = os.getpid()  # LocalCluster's scheduler runs in this process
        pss_workers = sum(_pss(p) for p in worker_pids)
        pss_nannies = sum(_pss(p) for p in nanny_pids)
        pss_client = _pss(scheduler_pid)
        return {
            "bytes": args.bytes,
            "workers": len(worker_pids),
            "scatter_seconds": scatter_seconds,
            "pss_total": pss_workers + pss_nannies + pss_client,
            "pss_workers": pss_workers,
            "pss_nannies": pss_nannies,
            "nannies": len(nanny_pids),
            "pss_client_and_scheduler": pss_client,
            "idle_worker_pss": statistics.median(idle.values()) if idle else 0,
        }
    finally:
        signal.alarm(0)
        client.close()
        cluster.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("map")
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--batch", type=int, default=0)
    p.add_argument("--workers", type=int, default=2)
    p = sub.add_parser("submit")
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--workers", type=int, default=2)
    p = sub.add_parser("kill")
    p.add_argument("--n", type=int, default=400)
    p.add_argument("--sleep-ms", type=float, default=20)
    p.add_argument("--kill-after", type=float, default=0.5)
    p.add_argument("--workers", type=int, default=2)
    p = sub.add_parser("memory")
    p.add_argument("--bytes", type=int, default=1 << 30)
    p.add_argument("--deadline", type=int, default=840, help="seconds before the run gives up and closes its cluster")
    p.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    result = {"map": cmd_map, "submit": cmd_submit, "kill": cmd_kill, "memory": cmd_memory}[args.cmd](args)
    result["peer"] = "dask " + __import__("distributed").__version__
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
