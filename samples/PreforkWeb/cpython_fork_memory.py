"""CPython side of docs/prefork.md: the seed's variants, measured on the same machine.

The seed (a gunicorn/Flask write-up) shows its figures as charts without numbers, so this script
repeats its variants without a web server: a parent process, N forked children, each holding
``list(range(10_000_000))`` the way the seed's workers do, and the total PSS of parent + children
read from /proc/PID/smaps_rollup once every child holds (and, where stated, has read) the data.

Variants:
  no-preload       every child builds its own list after fork (gunicorn without --preload)
  preload          the parent builds the list before fork; children do not touch it
  preload+read     the parent builds it before fork; every child iterates it once (reference
                   counts are written: copy on write)
  mmap             the parent fills an anonymous shared mmap with 10M int64; children read all of it

Usage: python3 cpython_fork_memory.py [items]
"""
import array
import mmap
import os
import sys

ITEMS = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000
WORKERS = (1, 2, 4, 8)


def pss_kib(pid):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    raise RuntimeError(f"no Pss for {pid}")


def run(variant, workers):
    data = None
    shared = None
    if variant in ("preload", "preload+read"):
        data = list(range(ITEMS))
    elif variant == "mmap":
        shared = mmap.mmap(-1, ITEMS * 8)
        view = memoryview(shared).cast("q")
        chunk = 1 << 20
        for start in range(0, ITEMS, chunk):
            end = min(ITEMS, start + chunk)
            view[start:end] = array.array("q", range(start, end))
        view.release()
    children = []
    for _ in range(workers):
        ready_r, ready_w = os.pipe()
        go_r, go_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(ready_r)
            os.close(go_w)
            if variant == "no-preload":
                mine = list(range(ITEMS))
                total = sum(mine)
            elif variant == "preload+read":
                total = sum(data)
            elif variant == "mmap":
                with memoryview(shared) as raw, raw.cast("q") as ints:
                    total = sum(ints)
            else:
                total = 0
            os.write(ready_w, str(total).encode())
            os.read(go_r, 1)  # hold the data until the parent has measured
            os._exit(0)
        os.close(ready_w)
        os.close(go_r)
        children.append((pid, ready_r, go_w))
    for _, ready_r, _ in children:
        os.read(ready_r, 64)
    total = pss_kib(os.getpid()) + sum(pss_kib(pid) for pid, _, _ in children)
    for pid, ready_r, go_w in children:
        os.write(go_w, b"x")
        os.waitpid(pid, 0)
        os.close(ready_r)
        os.close(go_w)
    del data
    if shared is not None:
        shared.close()
    return total / 1024.0


def main():
    print(f"CPython {sys.version.split()[0]}, {ITEMS:,} items; total PSS (MiB) of parent + N forked children")
    print("| variant | " + " | ".join(f"N={n}" for n in WORKERS) + " |")
    print("| --- | " + " | ".join("---:" for _ in WORKERS) + " |")
    for variant in ("no-preload", "preload", "preload+read", "mmap"):
        row = [run(variant, n) for n in WORKERS]
        print(f"| {variant} | " + " | ".join(f"{v:.1f}" for v in row) + " |", flush=True)


if __name__ == "__main__":
    main()
