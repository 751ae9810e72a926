#!/usr/bin/env python3
"""Where a channel run's CPU goes, by category, from a perf profile (used for docs/benchmarks/channels.md).

    export DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0   # JIT symbols in /tmp/perf-PID.map
    B=bench/Multiprocessing.Benchmarks/bin/Release/net10.0/Multiprocessing.Benchmarks
    perf record -k CLOCK_MONOTONIC -F 4999 -g -o ch.data -- $B channels run channel-drain long 1 16000000 > run.json
    perf script -i ch.data -F comm,pid,tid,time,ip,sym,dso | \
        python3 channel_perf_categories.py $(python3 -c "import json;print(*json.load(open('run.json'))['window_monotonic_s'])") [PROCESSES]

Arguments: the timed window in CLOCK_MONOTONIC seconds (`channels run` prints it) and how many
processes to list (the busiest first, default 2). Each sample in the window goes to the first
category whose test matches its call stack (leaf first). DUMP=text prints the commonest stacks of
the categories whose name contains text.
"""
import sys, re, bisect, collections
t0, t1 = float(sys.argv[1]), float(sys.argv[2])
maps = {}
def load(pid):
    if pid not in maps:
        ents = []
        try:
            for line in open(f'/tmp/perf-{pid}.map'):
                p = line.rstrip('\n').split(' ', 2)
                try: ents.append((int(p[0], 16), int(p[1], 16), p[2]))
                except ValueError: pass
        except FileNotFoundError: pass
        ents.sort(); maps[pid] = (ents, [e[0] for e in ents])
    return maps[pid]
def resolve(pid, addr):
    ents, starts = load(pid)
    i = bisect.bisect_right(starts, addr) - 1
    if i >= 0 and ents[i][0] <= addr < ents[i][0] + ents[i][1]:
        return ents[i][2]
    return None
CATS = [  # (name, test over (comm, frames leaf->root)); first match wins
 ('JIT compiler', lambda c, f: any('libclrjit' in x for x in f[:3])),
 ('futex waiter thread (futex_waitv, polls, completes tasks)', lambda c, f: c.startswith('mp futex')),
 ('futex wake system call from Signal (per message while the other side is counted as waiting)', lambda c, f: any('ChannelRing::' in x for x in f) and any(x.startswith('syscall') or 'SYSCALL' in x or 'futex' in x.lower() for x in f)),
 ('sched_yield (spinning waits that yield)', lambda c, f: any('sched_yield' in x for x in f)),
 ('spin in WaitToReadAsync / WaitToWriteAsync before parking', lambda c, f: any(('WaitToReadAsync' in x or 'WaitToWriteAsync' in x) for x in f) and not any('FutexWaiter::WaitAsync' in x for x in f)),
 ('parking: FutexWaiter.WaitAsync (register, poke)', lambda c, f: any('FutexWaiter::WaitAsync' in x or 'WaiterThread::Poke' in x or 'WaiterThread::Add' in x for x in f)),
 ('serialise (codec write)', lambda c, f: any('::Serialize(' in x or 'Codec`1' in x and '::Write(' in x or 'JsonCodec' in x and 'Write' in x or 'PayloadWriter' in x for x in f) and not any('ChannelRing::TryWrite' in x for x in f)),
 ('deserialise (codec read, allocation)', lambda c, f: any(('Codec`1' in x or 'JsonCodec' in x) and '::Read(' in x or 'JsonSerializer::Deserialize' in x for x in f)),
 ('SyncMemory Enter/Exit (interlocked use count)', lambda c, f: any('SyncMemory::' in x for x in f[:2])),
 ('in-process Lock (write/read gate)', lambda c, f: any('System.Threading.Lock::' in x for x in f[:2])),
 ('ring: Slot() (64-bit % per message)', lambda c, f: 'ChannelRing::Slot' in f[0]),
 ('ring: Memmove of the message into the slot', lambda c, f: 'Memmove' in f[0] and any('ChannelRing::TryWrite' in x for x in f[:3])),
 ('ring: read delegate + PayloadReader + codec (in the slot)', lambda c, f: '<TryRead>b__' in f[0] or any('<TryRead>b__' in x for x in f[:2])),
 ('ring: Signal (fence + waiter-count read)', lambda c, f: 'ChannelRing::Signal' in f[0]),
 ('ring: slot claim, sequence CAS, publish (ChannelRing.TryWrite/TryRead self)', lambda c, f: any('ChannelRing::TryWrite' in x or 'ChannelRing::TryRead' in x for x in f[:3])),
 ('endpoint / reader / writer wrappers', lambda c, f: any('ChannelEndpoint`1' in x or 'SharedChannelReader' in x or 'SharedChannelWriter' in x or 'PipeEnd' in x for x in f[:2])),
 ('benchmark loop (make message, checksum)', lambda c, f: any('ChannelRuns' in x or 'Payload::' in x for x in f[:2])),
 ('async machinery, thread pool (continuations, dispatch)', lambda c, f: any('ThreadPool' in x or 'AsyncStateMachineBox' in x or 'Task' in x and 'System.Private.CoreLib' in x for x in f[:4])),
 ('scheduler / other kernel', lambda c, f: f and 'kernel.kallsyms' in f[0]),
 ('runtime (libcoreclr: GC, allocation, stubs)', lambda c, f: f and 'libcoreclr' in f[0]),
]
import os
DUMP = os.environ.get('DUMP')
dumps = collections.Counter()
counts = collections.defaultdict(collections.Counter); total = collections.Counter(); comms = {}
head = re.compile(r'^(\S.*?)\s+(\d+)/(\d+)\s+([0-9.]+):')
pid = None; frames = []; when = 0; comm = ''
def flush():
    global frames
    if pid is not None and frames and t0 <= when <= t1:
        total[pid] += 1
        for name, test in CATS:
            if test(comm, frames):
                counts[pid][name] += 1
                if DUMP and DUMP in name:
                    dumps[(comm, ' <- '.join(re.sub(r'\[[A-Za-z.]+\] |instance |\(.*', '', x)[:70] for x in frames[:10]))] += 1
                break
        else:
            counts[pid]['other: ' + frames[0][:90]] += 1
    frames = []
for line in sys.stdin:
    if not line.strip():
        flush(); pid = None; continue
    if not line.startswith('\t') and not line.startswith(' '):
        m = head.match(line)
        if m:
            flush(); comm = m.group(1).strip(); pid = int(m.group(2)); when = float(m.group(4)); comms.setdefault(pid, set()).add(comm)
        continue
    parts = line.strip().split(None, 1)
    try: addr = int(parts[0], 16)
    except (ValueError, IndexError): continue
    rest = parts[1] if len(parts) > 1 else ''
    if rest.startswith('[unknown]'):
        name = resolve(pid, addr) or '[' + rest[rest.find('(')+1:].rstrip(')').rsplit('/', 1)[-1] + ']'
    else:
        name = rest
    frames.append(name)
flush()
for p in sorted(total, key=lambda p: -total[p])[:int(sys.argv[3]) if len(sys.argv) > 3 else 2]:
    print(f'== pid {p} ({total[p]} samples in the window)')
    for n, c in counts[p].most_common(14):
        print(f'  {100*c/total[p]:5.1f}%  {n}')

if DUMP:
    for (c, k), n in dumps.most_common(15):
        print(n, c, '|', k)
