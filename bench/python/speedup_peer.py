#!/usr/bin/env python3
"""CPU-bound speed-up peer for `mp bench` (group "speedup").

Counts the primes in [0, SIZE) by trial division with odd divisors up to the square root (the same
algorithm as Multiprocessing.Cli's PrimeCounting), split into RANGES consecutive ranges of (nearly)
equal length, once serially in this process and then with multiprocessing.Pool(W).map(count, ranges,
chunksize=1) for each W. Each pool is started and warmed (one tiny map) before the clock starts.
Prints one JSON line: {"python": ..., "start_method": ..., "serial_s": ..., "serial_primes": ...,
"pool": {"W": {"s": ..., "primes": ...}}}.
"""
import json
import math
import multiprocessing as mp
import sys
import time


def is_prime(n):
    if n < 4:
        return n >= 2
    if n & 1 == 0:
        return False
    limit = math.isqrt(n)
    d = 3
    while d <= limit:
        if n % d == 0:
            return False
        d += 2
    return True


def count(r):
    start, end = r
    c = 0
    for n in range(max(start, 0), end):
        if is_prime(n):
            c += 1
    return c


def split(size, parts):
    parts = min(parts, size)
    return [(size * i // parts, size * (i + 1) // parts) for i in range(parts)]


def main():
    args = sys.argv[1:]
    opts = {"--size": 1_000_000, "--ranges": 32, "--workers": "1,2", "--start-method": "fork"}
    i = 0
    while i < len(args):
        if args[i] not in opts or i + 1 >= len(args):
            print("usage: speedup_peer.py [--size N] [--ranges N] [--workers 1,2,...] [--start-method fork|spawn]", file=sys.stderr)
            return 2
        opts[args[i]] = args[i + 1]
        i += 2
    size = int(opts["--size"])
    ranges = split(size, int(opts["--ranges"]))
    workers = [int(w) for w in str(opts["--workers"]).split(",") if w]
    t0 = time.perf_counter()
    serial = [count(r) for r in ranges]
    serial_s = time.perf_counter() - t0
    ctx = mp.get_context(opts["--start-method"])
    pools = {}
    for w in workers:
        with ctx.Pool(w) as pool:
            pool.map(count, [(0, 1000)] * w, chunksize=1)
            t0 = time.perf_counter()
            counts = pool.map(count, ranges, chunksize=1)
            pools[str(w)] = {"s": time.perf_counter() - t0, "primes": sum(counts), "agrees": counts == serial}
    print(json.dumps({"python": sys.version.split()[0], "start_method": opts["--start-method"], "serial_s": serial_s,
                      "serial_primes": sum(serial), "pool": pools}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
