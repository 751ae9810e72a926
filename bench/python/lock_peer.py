#!/usr/bin/env python3
"""CPython peer for the SharedLock benchmarks of Multiprocessing for .NET.

Each subcommand measures one thing with the standard library's multiprocessing.Lock and prints one
JSON object on stdout. The .NET side (`Multiprocessing.Benchmarks locks`) runs this script once per
round, interleaved with its own runs and the C futex floor, so all are measured in the same sitting.

    lock_peer.py handoff --n 20000 [--cold] [--start fork|spawn]
    lock_peer.py uncontended --n 1000000

handoff: two processes hand three locks around so that they strictly alternate (the same pattern
as the .NET side): the parent holds L0 and L1, the child L2; in step k the parent releases
L[k % 3] and acquires L[(k + 2) % 3], while the child acquires L[k % 3] and releases
L[(k + 2) % 3]. Each parent step is one round trip: a release the child was waiting for, then a
release the parent was waiting for (two wake-ups, like the C futex ping-pong). With --cold the
parent spins 200 us before each step, so the child is asleep in the kernel, as in the C floor's
"cold" mode.

uncontended: acquire + release of a lock nobody else wants, in nanoseconds per pair.

Standard library only.
"""

import argparse
import json
import multiprocessing
import sys
import time


def _spin_us(us):
    end = time.perf_counter_ns() + us * 1000
    while time.perf_counter_ns() < end:
        pass


def _child(locks, ready, steps):
    locks[2].acquire()
    ready.set()
    for k in range(steps):
        locks[k % 3].acquire()
        locks[(k + 2) % 3].release()
    # The child now holds exactly one lock (the one it acquired last); let it go.
    locks[(steps - 1) % 3].release()


def _percentile(sorted_values, fraction):
    # Same index rule as the C floor's report_latencies: lat[(int)(n * fraction)].
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * fraction))]


def handoff(args):
    context = multiprocessing.get_context(args.start)
    locks = [context.Lock() for _ in range(3)]
    ready = context.Event()
    locks[0].acquire()
    locks[1].acquire()
    child = context.Process(target=_child, args=(locks, ready, args.n))
    child.start()
    ready.wait()
    latencies = []
    for k in range(args.n):
        if args.cold:
            _spin_us(200)
        t0 = time.perf_counter_ns()
        locks[k % 3].release()
        locks[(k + 2) % 3].acquire()
        latencies.append(time.perf_counter_ns() - t0)
    child.join()
    latencies.sort()
    print(json.dumps({
        "python": sys.version.split()[0],
        "n": args.n,
        "cold": args.cold,
        "p50_us": _percentile(latencies, 0.5) / 1000,
        "p99_us": _percentile(latencies, 0.99) / 1000,
        "min_us": latencies[0] / 1000,
    }))


def uncontended(args):
    lock = multiprocessing.Lock()
    acquire, release = lock.acquire, lock.release
    for _ in range(10000):
        acquire()
        release()
    t0 = time.perf_counter_ns()
    for _ in range(args.n):
        acquire()
        release()
    elapsed = time.perf_counter_ns() - t0
    print(json.dumps({"python": sys.version.split()[0], "n": args.n, "ns_per_pair": elapsed / args.n}))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    h = commands.add_parser("handoff")
    h.add_argument("--n", type=int, default=20000)
    h.add_argument("--cold", action="store_true")
    h.add_argument("--start", default="fork", choices=["fork", "spawn", "forkserver"])
    h.set_defaults(run=handoff)
    u = commands.add_parser("uncontended")
    u.add_argument("--n", type=int, default=1000000)
    u.set_defaults(run=uncontended)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
