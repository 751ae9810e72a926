#!/usr/bin/env python3
"""CPython peer for the Multiprocessing for .NET shared-memory benchmarks (issue 3, part 6).

Each subcommand measures one thing with the standard library's multiprocessing (fork start
method, CPython's default on Linux) and numpy, and prints one JSON object on stdout. The .NET side
(`Multiprocessing.Benchmarks sharedmem`) runs this script once per round, interleaved with its own
runs, so both are measured in the same sitting; it can also be run by hand.

    shared_peer.py handoff [--sizes 1048576,104857600,1073741824] [--workers 2] [--touch-repeats 100] [--repeats 3] [--settle 1.0]
    shared_peer.py memory --mode list|numpy|shm [--workers N] [--bytes 1073741824]

handoff: on a warm Pool(2), the submit -> result round trip of `apply_async(f, args).get()` for a
task that touches one element, and for one that reads (sums) every element, when the data is
(a) a numpy array passed as the argument (pickled by multiprocessing, unpickled in the worker) or
(b) a multiprocessing.shared_memory.SharedMemory passed by name, attached in the worker with a
numpy view over its buffer (attached and closed on every call, as the documentation shows).
Creating and filling the data is outside the clock on both sides.

memory: total PSS (parent + workers, from /proc/PID/smaps_rollup) while N workers each hold a
dataset of about --bytes after reading every element of it:
    list   a Python list of floats built before Pool(fork) (the list and its float objects take
           about --bytes: 8 bytes of list slot and a 32-byte pymalloc block per element, so it
           holds --bytes / 40 values); reading it increments every float's reference count, so
           the workers copy the floats' pages (the list's own array stays shared)
    numpy  a float64 numpy array of --bytes built before Pool(fork); the workers read the
           inherited pages and copy nothing
    shm    a SharedMemory of --bytes filled by the parent; each worker attaches by name and holds
           a numpy view
Each task reads everything, then reports its arrival and waits until the parent has read the
figures, so that all N workers hold the data at once. Idle worker PSS comes from a pool of N
started before the data existed (forked from the same parent, warmed with small tasks).

Needs numpy (Debian: python3-numpy). Worker functions live at module level; everything else runs
under the __main__ guard.
"""

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import time
from multiprocessing import resource_tracker, shared_memory

import numpy as np

# Inherited by fork workers: the dataset of `memory`, and the arrival counter / release event.
DATA = None
ARRIVED = None
RELEASE = None


# ---- task functions (module level, so the pool can find them) ----

def noop(x):
    return x


def touch_array(a):
    return float(a[-1])


def sum_array(a):
    return float(a.sum())


def _with_shm(name, n, reader):
    shm = shared_memory.SharedMemory(name=name)
    try:
        view = np.ndarray((n,), dtype=np.float64, buffer=shm.buf)
        value = reader(view)
        del view  # close() refuses while a view exports the buffer
    finally:
        shm.close()
    return value


def touch_shm(name, n):
    return _with_shm(name, n, lambda v: float(v[-1]))


def sum_shm(name, n):
    return _with_shm(name, n, lambda v: float(v.sum()))


def _arrive_and_wait():
    with ARRIVED.get_lock():
        ARRIVED.value += 1
    if not RELEASE.wait(timeout=600):
        raise RuntimeError("the parent never released the workers")
    return os.getpid()


def hold_list(_):
    total = 0.0
    for value in DATA:  # each step takes a reference: the float's refcount is written
        total += value
    return total, _arrive_and_wait()


def hold_numpy(_):
    total = float(DATA.sum())
    return total, _arrive_and_wait()


def hold_shm(args):
    name, n = args
    shm = shared_memory.SharedMemory(name=name)
    view = np.ndarray((n,), dtype=np.float64, buffer=shm.buf)
    total = float(view.sum())
    pid = _arrive_and_wait()
    del view
    shm.close()
    return total, pid


# ---- measurements ----

def _smaps_rollup(pid):
    """Rss, Pss, Uss and Pss_Shmem of one process in bytes, from /proc/PID/smaps_rollup."""
    fields = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[2] == "kB":
                fields[parts[0].rstrip(":")] = int(parts[1]) * 1024
    return {
        "pid": pid,
        "rss": fields.get("Rss", 0),
        "pss": fields.get("Pss", 0),
        "uss": fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0),
        "pss_shmem": fields.get("Pss_Shmem", 0),
    }


def _count_mappers(path):
    """How many processes map `path`."""
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


def _pool_memory(pool):
    # Pool._pool is the list of worker Process objects (private, but stable since Python 3.2).
    workers = [_smaps_rollup(p.pid) for p in pool._pool]
    parent = _smaps_rollup(os.getpid())
    worker_pids = {p.pid for p in pool._pool}
    helpers = []
    for child in multiprocessing.active_children():
        if child.pid not in worker_pids:
            helpers.append(_smaps_rollup(child.pid))
    # The resource tracker is a plain child process, not a multiprocessing.Process.
    tracker = getattr(getattr(multiprocessing, "resource_tracker", None), "_resource_tracker", None)
    if tracker is not None and getattr(tracker, "_pid", None):
        try:
            helpers.append(_smaps_rollup(tracker._pid))
        except OSError:
            pass
    return {"parent": parent, "workers": workers, "helpers": helpers}


def _fill(view):
    # The same values as the .NET side: element i holds i % 1024.
    view[:] = np.arange(view.shape[0], dtype=np.int64) % 1024


def _clock(call):
    t0 = time.perf_counter()
    value = call()
    return (time.perf_counter() - t0) * 1e3, value


def cmd_handoff(args, ctx):
    sizes = [int(s) for s in args.sizes.split(",")]
    # Start this process's resource tracker before forking, so that the workers share it; otherwise
    # every worker that attaches a SharedMemory starts a tracker of its own (CPython < 3.13), which
    # unlinks "leaked" segments and warns when the worker exits.
    resource_tracker.ensure_running()
    with ctx.Pool(args.workers) as pool:
        # Warm: workers started, the functions and numpy imported and exercised in both workers.
        tiny = np.zeros(128, dtype=np.float64)
        for _ in range(200):
            pool.apply_async(noop, (1,)).get()
        for _ in range(20):
            pool.apply_async(touch_array, (tiny,)).get()
            pool.apply_async(sum_array, (tiny,)).get()
        warm_shm = shared_memory.SharedMemory(create=True, size=tiny.nbytes)
        try:
            for _ in range(20):
                pool.apply_async(touch_shm, (warm_shm.name, 128)).get()
                pool.apply_async(sum_shm, (warm_shm.name, 128)).get()
        finally:
            warm_shm.close()
            warm_shm.unlink()

        def timed(count, func, args_, expected):
            times = []
            for _ in range(count):
                ms, v = _clock(lambda: pool.apply_async(func, args_).get())
                _check(v, expected)
                times.append(ms)
            return statistics.median(times)

        # All sizes by name first, then all pickled, as the .NET side orders its runs.
        rows = {size: {"bytes": size} for size in dict.fromkeys(sizes)}
        for size, row in rows.items():
            n = size // 8
            last = float((n - 1) % 1024)
            repeats = 1 if size >= (512 << 20) else args.repeats
            # (a) shared_memory by name
            shm = shared_memory.SharedMemory(create=True, size=size)
            try:
                view = np.ndarray((n,), dtype=np.float64, buffer=shm.buf)
                _fill(view)
                del view
                time.sleep(args.settle)  # the same pause before the clock as the .NET side's
                row["shm_touch_first_ms"] = timed(1, touch_shm, (shm.name, n), last)
                row["shm_touch_ms"] = timed(args.touch_repeats, touch_shm, (shm.name, n), last)
                row["shm_sum_ms"] = timed(repeats, sum_shm, (shm.name, n), _expected_sum(n))
            finally:
                shm.close()
                shm.unlink()
        for size, row in rows.items():
            n = size // 8
            last = float((n - 1) % 1024)
            repeats = 1 if size >= (512 << 20) else args.repeats
            # (b) a numpy array argument, pickled
            data = np.empty(n, dtype=np.float64)
            _fill(data)
            row["pickle_touch_first_ms"] = timed(1, touch_array, (data,), last)
            row["pickle_touch_ms"] = timed(repeats, touch_array, (data,), last)
            row["pickle_sum_ms"] = timed(repeats, sum_array, (data,), _expected_sum(n))
            del data
        out = list(rows.values())
    return {"workers": args.workers, "sizes": out}


def _expected_sum(n):
    full, rest = divmod(n, 1024)
    return float(full * (1023 * 1024 // 2) + rest * (rest - 1) // 2)


def _check(value, expected):
    if abs(value - expected) > 1e-9 * max(1.0, abs(expected)):
        raise SystemExit(f"wrong result: {value} != {expected}")


def _warm(pool, n):
    for _ in range(4):
        pool.map(noop, range(n * 4), chunksize=1)


def cmd_memory(args, ctx):
    global DATA, ARRIVED, RELEASE
    n_workers = args.workers
    ARRIVED = ctx.Value("i", 0)
    RELEASE = ctx.Event()

    # Idle workers: a pool of the same size forked from this parent before the data exists.
    with ctx.Pool(n_workers) as idle_pool:
        _warm(idle_pool, n_workers)
        time.sleep(args.settle)
        idle = _pool_memory(idle_pool)
    parent_before = _smaps_rollup(os.getpid())

    shm = None
    if args.mode == "list":
        # A list slot (8 bytes) and a float object per value; pymalloc rounds the 24-byte float up
        # to its 32-byte size class (16-byte alignment since CPython 3.8): about 40 bytes a value.
        count = args.bytes // 40
        DATA = [float(i % 1024) for i in range(count)]
        expected = _expected_sum(count)
        task, items = hold_list, list(range(n_workers))
        dataset_bytes = count * 40
    elif args.mode == "numpy":
        count = args.bytes // 8
        DATA = np.empty(count, dtype=np.float64)
        _fill(DATA)
        expected = _expected_sum(count)
        task, items = hold_numpy, list(range(n_workers))
        dataset_bytes = count * 8
    else:
        count = args.bytes // 8
        shm = shared_memory.SharedMemory(create=True, size=count * 8)
        view = np.ndarray((count,), dtype=np.float64, buffer=shm.buf)
        _fill(view)
        del view
        expected = _expected_sum(count)
        task, items = hold_shm, [(shm.name, count)] * n_workers
        dataset_bytes = count * 8
    parent_with_data = _smaps_rollup(os.getpid())

    try:
        with ctx.Pool(n_workers) as pool:
            # Warm, as the .NET side warms its pool; the workers do not touch the data yet.
            _warm(pool, n_workers)
            t0 = time.perf_counter()
            # chunksize 1: a worker takes the next task only when it has finished one, so each of
            # the N workers takes exactly one of the N tasks (they wait for one another).
            pending = pool.map_async(task, items, chunksize=1)
            deadline = time.monotonic() + 600
            while ARRIVED.value < n_workers:
                if pending.ready():
                    pending.get()  # raises the worker's error
                    raise SystemExit("the tasks finished without all arriving")
                if time.monotonic() > deadline:
                    raise SystemExit(f"only {ARRIVED.value} of {n_workers} workers arrived")
                time.sleep(0.01)
            read_ms = (time.perf_counter() - t0) * 1e3
            held = _pool_memory(pool)
            # PSS splits the interpreter's pages among every process that maps it, other people's included.
            runtime_sharers = _count_mappers(os.path.realpath(sys.executable))
            RELEASE.set()
            results = pending.get(timeout=600)
    finally:
        if shm is not None:
            shm.close()
            shm.unlink()
    pids = {pid for _, pid in results}
    for total, _ in results:
        _check(total, expected)
    return {
        "mode": args.mode,
        "workers": n_workers,
        "dataset_bytes": dataset_bytes,
        "elements": count,
        "distinct_workers": len(pids),
        "read_ms": read_ms,
        "idle": idle,
        "parent_before_data": parent_before,
        "parent_with_data": parent_with_data,
        "held": held,
        "runtime_sharers": runtime_sharers,
    }


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("handoff")
    p.add_argument("--sizes", default=f"{1 << 20},{100 << 20},{1 << 30}")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--touch-repeats", type=int, default=100)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--settle", type=float, default=1.0)
    p = sub.add_parser("memory")
    p.add_argument("--mode", choices=("list", "numpy", "shm"), required=True)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--bytes", type=int, default=1 << 30)
    p.add_argument("--settle", type=float, default=0.5)
    args = parser.parse_args(argv)
    ctx = multiprocessing.get_context("fork")
    result = {"handoff": cmd_handoff, "memory": cmd_memory}[args.command](args, ctx)
    result.update(start_method="fork", python=sys.version.split()[0], numpy=np.__version__)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
