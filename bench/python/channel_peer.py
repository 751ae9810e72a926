#!/usr/bin/env python3
"""CPython peer for the Multiprocessing for .NET channel benchmarks.

Moves N messages from P producer processes to C consumer processes through a stdlib
multiprocessing.Queue, SimpleQueue or Pipe and prints one JSON object on stdout. The .NET side
(`Multiprocessing.Benchmarks channels`) runs this script once per measurement, interleaved with its
own runs, so both are measured in the same sitting.

    channel_peer.py run --kind queue|simplequeue|pipe --payload int|record|bytes64k
                        [--producers 1] [--consumers 1] [--n 1000000] [--start fork|spawn]

Timing, as on the .NET side: every producer and consumer process is started and waits on a
barrier; the clock runs from the first producer passing it to the last consumer seeing the end of
the stream (a None sentinel). With a Queue, each producer closes its queue handle and joins its
feeder thread (everything it put is in the pipe) before the producers meet on a second barrier;
then producer 0 puts one sentinel per consumer after its own messages, so no consumer stops early. Pipes have one reader and
one writer: with P producers there are P independent pipes, producer i to consumer i, each ending
with its own sentinel. Process start is outside the clock.

Payloads: `int` is the message number; `record` a dict of 7 fields (about 110 bytes pickled), the
idiomatic Python counterpart of the .NET side's 100-byte records; `bytes64k` one bytes object of
65,536 bytes sent again and again. Consumers sum a key of each message (the number, the record's
id, or the length) and the parent checks the total. Standard library only.
"""

import argparse
import json
import multiprocessing
import pickle
import sys
import time

BLOB = bytes(range(256)) * 256  # 65,536 bytes


def make_int(i):
    return i


def make_record(i):
    return {"id": i, "symbol": "MSFT", "price": 412.25, "qty": 100, "side": "buy", "venue": "XNAS", "ts": 1700000000123456 + i}


def make_bytes(i):
    return BLOB


def key_int(m):
    return m


def key_record(m):
    return m["id"]


def key_bytes(m):
    return len(m)


PAYLOADS = {
    "int": (make_int, key_int),
    "record": (make_record, key_record),
    "bytes64k": (make_bytes, key_bytes),
}


def expected_sum(payload, n):
    return n * len(BLOB) if payload == "bytes64k" else n * (n - 1) // 2


# ---- producers and consumers (module level: picklable under spawn as well as fork) ----

def produce_queue(kind, q, go, finished, index, first, count, consumers, payload, results):
    make = PAYLOADS[payload][0]
    put = q.put
    go.wait()
    start = time.monotonic_ns()
    for i in range(first, first + count):
        put(make(i))
    loop_end = time.monotonic_ns()
    if kind == "queue" and index != 0:
        # Everything this producer put must be in the pipe before producer 0's sentinels follow.
        q.close()
        q.join_thread()
    finished.wait()
    if index == 0:
        # Producer 0's own feeder writes its messages, then the sentinels, in order.
        for _ in range(consumers):
            q.put(None)
        if kind == "queue":
            q.close()
            q.join_thread()
    results.put(("producer", start, loop_end))


def consume_queue(q, go, payload, results):
    key = PAYLOADS[payload][1]
    get = q.get
    count = 0
    total = 0
    go.wait()
    while True:
        m = get()
        if m is None:
            break
        count += 1
        total += key(m)
    results.put(("consumer", time.monotonic_ns(), count, total))


def produce_pipe(conn, go, first, count, payload, results):
    make = PAYLOADS[payload][0]
    send = conn.send
    go.wait()
    start = time.monotonic_ns()
    for i in range(first, first + count):
        send(make(i))
    loop_end = time.monotonic_ns()
    send(None)
    results.put(("producer", start, loop_end))


def consume_pipe(conn, go, payload, results):
    key = PAYLOADS[payload][1]
    recv = conn.recv
    count = 0
    total = 0
    go.wait()
    while True:
        m = recv()
        if m is None:
            break
        count += 1
        total += key(m)
    results.put(("consumer", time.monotonic_ns(), count, total))


class Results:
    """Where producers and consumers report: a SimpleQueue read by the parent."""

    def __init__(self, ctx):
        self._q = ctx.SimpleQueue()

    def put(self, item):
        self._q.put(item)

    def get(self):
        return self._q.get()


def run(args):
    ctx = multiprocessing.get_context(args.start)
    producers, consumers, n = args.producers, args.consumers, args.n
    each = n // producers
    n = each * producers
    go = ctx.Barrier(producers + consumers)
    results = Results(ctx)
    procs = []
    if args.kind in ("queue", "simplequeue"):
        q = ctx.Queue() if args.kind == "queue" else ctx.SimpleQueue()
        finished = ctx.Barrier(producers)
        for _ in range(consumers):
            procs.append(ctx.Process(target=consume_queue, args=(q, go, args.payload, results)))
        for i in range(producers):
            procs.append(ctx.Process(target=produce_queue, args=(args.kind, q, go, finished, i, i * each, each, consumers, args.payload, results)))
    elif args.kind == "pipe":
        if producers != consumers:
            raise SystemExit("pipe: one pipe per producer/consumer pair, so --producers must equal --consumers")
        for i in range(producers):
            reader, writer = ctx.Pipe(duplex=False)
            procs.append(ctx.Process(target=consume_pipe, args=(reader, go, args.payload, results)))
            procs.append(ctx.Process(target=produce_pipe, args=(writer, go, i * each, each, args.payload, results)))
    else:
        raise SystemExit(f"unknown kind {args.kind}")
    for p in procs:
        p.start()
    starts, loop_ends, ends, count, total = [], [], [], 0, 0
    for _ in range(producers + consumers):
        item = results.get()
        if item[0] == "producer":
            starts.append(item[1])
            loop_ends.append(item[2])
        else:
            ends.append(item[1])
            count += item[2]
            total += item[3]
    for p in procs:
        p.join()
    if count != n or total != expected_sum(args.payload, n):
        raise SystemExit(f"checksum mismatch: {count} messages, sum {total}; expected {n}, {expected_sum(args.payload, n)}")
    seconds = (max(ends) - min(starts)) / 1e9
    make = PAYLOADS[args.payload][0]
    wire = len(pickle.dumps(make(123456), protocol=pickle.DEFAULT_PROTOCOL))
    payload_bytes = {"int": 8, "record": 100, "bytes64k": len(BLOB)}[args.payload]
    print(json.dumps({
        "python": sys.version.split()[0],
        "start": args.start,
        "kind": args.kind,
        "payload": args.payload,
        "producers": producers,
        "consumers": consumers,
        "n": n,
        "seconds": seconds,
        "msgs_per_s": n / seconds,
        # How fast the producers' put()/send() loops ran (for Queue: into the feeder thread's buffer, not yet delivered).
        "put_msgs_per_s": n / ((max(loop_ends) - min(starts)) / 1e9),
        "mb_per_s": n * payload_bytes / seconds / 1e6,
        "wire_bytes": wire,
    }))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run")
    r.add_argument("--kind", choices=["queue", "simplequeue", "pipe"], required=True)
    r.add_argument("--payload", choices=sorted(PAYLOADS), required=True)
    r.add_argument("--producers", type=int, default=1)
    r.add_argument("--consumers", type=int, default=1)
    r.add_argument("--n", type=int, default=1_000_000)
    r.add_argument("--start", choices=["fork", "spawn", "forkserver"], default="fork")
    args = parser.parse_args()
    run(args)


if __name__ == "__main__":
    main()
