using System.Diagnostics;
using System.Text;
using Multiprocessing.Interop;
using Multiprocessing.Synchronization;

namespace Multiprocessing.Channels;

/// <summary>
/// A bounded multi-producer, multi-consumer queue of variable-size messages in shared memory: the
/// engine under <see cref="SharedChannel{T}"/> and <see cref="PipeEnd{T}"/>. It is Dmitry Vyukov's
/// bounded MPMC queue: each slot carries a sequence number that says whose turn it is, so a writer
/// and a reader touch different words (the tail, the head) and different slots, and neither waits
/// for the other unless the queue is full or empty.
/// </summary>
/// <remarks>
/// <para><b>Slots.</b> A slot holds one message of up to <see cref="MaxMessage"/> bytes. The memory
/// is sparse: a slot costs the pages its largest message touched, so a generous maximum is cheap.</para>
/// <para><b>Processes that die mid-message.</b> Every process that reads or writes registers in a
/// small table and records, before it claims a position, which one it is claiming; it clears the
/// record once the slot is handed on. A waiter that sees no progress for a while looks for a claim
/// whose process is dead: a writer's half-written slot is marked broken (readers skip it and count
/// it in <see cref="BrokenMessages"/>), a reader's unreleased slot is released (its message is lost).
/// A process that lives on never loses a message.</para>
/// <para><b>Writers that all die.</b> A process that takes the channel's writer registers as a
/// writer; when the queue is empty, not completed, and every registered writer is dead, waiting
/// readers complete the channel with an error instead of waiting for ever.</para>
/// </remarks>
internal sealed unsafe partial class ChannelRing
{
    // Layout, from the ring's start (every group on its own cache lines).
    private const int CapacityOffset = 0;       // int
    private const int SlotStrideOffset = 4;     // int
    private const int MaxMessageOffset = 8;     // int
    private const int TailOffset = 64;          // long: next position to write
    private const int HeadOffset = 128;         // long: next position to read
    private const int ReadSignalOffset = 192;   // int futex word: bumped when a message or completion arrives
    private const int ReadersAsleepOffset = 196; // int: 1 while some reader may be about to sleep
    private const int WriteSignalOffset = 256;  // int futex word: bumped when a slot is freed
    private const int WritersAsleepOffset = 260;
    private const int StateOffset = 320;        // int: Open, Completing, Completed, Faulted
    private const int ErrorLengthOffset = 324;  // int: chars of the error text
    private const int BrokenOffset = 328;       // long
    private const int ErrorTextOffset = 384;    // UTF-16, up to MaxErrorChars
    private const int MaxErrorChars = 500;
    private const int RecordsOffset = 1408;
    private const int RecordSize = 64;          // one cache line per process, or writers and readers of different processes share one: long identity, long write claim + 1, long read claim + 1, int flags
    public const int MaxProcesses = 64;
    private const int SlotsOffset = RecordsOffset + MaxProcesses * RecordSize; // 5504, a multiple of 64
    private const int SlotHeader = 16;          // long sequence, int length (-1: broken)

    private const int Open = 0;
    private const int Completing = 1;
    private const int Completed = 2;
    private const int Faulted = 3;
    private const int WriterFlag = 1;

    private readonly byte* _ring;
    private ThreadGate _writeGate;
    private ThreadGate _readGate;
    private readonly Lock _registerGate = new(); // innermost: taken under either gate, never the other way round
    private long* _record;
    private readonly long _indexMask; // Capacity - 1 when Capacity is a power of two (a mask instead of a 64-bit division per slot lookup), else -1

    public ChannelRing(byte* ring)
    {
        // Registered before this process can publish on the ring, not at its first message: a
        // registration racing a sleeper's barrier could leave that sleeper to the waiter's periodic look.
        _ = SleepFence.Prepare();
        _ring = ring;
        Capacity = *(int*)(ring + CapacityOffset);
        SlotStride = *(int*)(ring + SlotStrideOffset);
        MaxMessage = *(int*)(ring + MaxMessageOffset);
        if (Capacity <= 0 || MaxMessage <= 0 || SlotStride < SlotHeader + MaxMessage)
        {
            throw new InvalidDataException("The shared memory does not hold a channel (its header is not one).");
        }
        _indexMask = System.Numerics.BitOperations.IsPow2(Capacity) ? Capacity - 1 : -1;
    }

    public int Capacity { get; }

    public int MaxMessage { get; }

    private int SlotStride { get; }

    /// <summary>Bytes a ring with this capacity and maximum message size occupies.</summary>
    public static long SizeOf(int capacity, int maxMessage) => SlotsOffset + (long)capacity * Stride(maxMessage);

    private static int Stride(int maxMessage) => (SlotHeader + maxMessage + 63) & ~63;

    /// <summary>Lays out a new ring in zeroed memory.</summary>
    public static void Initialize(byte* ring, int capacity, int maxMessage)
    {
        *(int*)(ring + CapacityOffset) = capacity;
        *(int*)(ring + SlotStrideOffset) = Stride(maxMessage);
        *(int*)(ring + MaxMessageOffset) = maxMessage;
        for (long i = 0; i < capacity; i++)
        {
            *(long*)(ring + SlotsOffset + i * Stride(maxMessage)) = i;
        }
    }

    public int* ReadSignal => (int*)(_ring + ReadSignalOffset);

    /// <summary>Set by a reader before it sleeps; the next writer clears it and makes the one wake-up call.</summary>
    public int* ReadersAsleep => (int*)(_ring + ReadersAsleepOffset);

    public int* WriteSignal => (int*)(_ring + WriteSignalOffset);

    /// <summary>Set by a writer before it sleeps; the next reader clears it and makes the one wake-up call.</summary>
    public int* WritersAsleep => (int*)(_ring + WritersAsleepOffset);

    /// <summary>The offsets of the futex words within the ring, for closing wake-ups.</summary>
    public static int[] FutexOffsets(int ringOffset) => [ringOffset + ReadSignalOffset, ringOffset + WriteSignalOffset];

    private ref long Tail => ref *(long*)(_ring + TailOffset);

    private ref long Head => ref *(long*)(_ring + HeadOffset);

    private ref int State => ref *(int*)(_ring + StateOffset);

    /// <summary>Messages that could not be delivered because their writer died while writing them.</summary>
    public long BrokenMessages => Volatile.Read(ref *(long*)(_ring + BrokenOffset));

    /// <summary>Messages written and not yet taken (approximate while others work).</summary>
    public int Count => (int)Math.Clamp(Volatile.Read(ref Tail) - Volatile.Read(ref Head), 0, Capacity);

    public bool IsCompleted => Volatile.Read(ref State) >= Completed;

    /// <summary>Completed and nothing left to read.</summary>
    public bool IsDrained => IsCompleted && Volatile.Read(ref Head) >= Volatile.Read(ref Tail);

    /// <summary>The error the channel was completed with, or null.</summary>
    public string? Error
    {
        get
        {
            if (Volatile.Read(ref State) != Faulted)
            {
                return null;
            }
            int length = Math.Clamp(*(int*)(_ring + ErrorLengthOffset), 0, MaxErrorChars);
            return new string((char*)(_ring + ErrorTextOffset), 0, length);
        }
    }

    private byte* Slot(long position) => _ring + SlotsOffset + (_indexMask >= 0 ? position & _indexMask : position % Capacity) * SlotStride;

    /// <summary>Writes one message; false when the ring is full or completed (see <paramref name="completed"/>).</summary>
    public bool TryWrite(ReadOnlySpan<byte> message, out bool completed)
    {
        Debug.Assert(message.Length <= MaxMessage);
        _writeGate.Enter();
        try
        {
            completed = Volatile.Read(ref State) != Open;
            if (completed)
            {
                return false;
            }
            long* record = Register(writer: true);
            long position = Volatile.Read(ref Tail);
            byte* slot;
            while (true)
            {
                slot = Slot(position);
                long difference = Volatile.Read(ref *(long*)slot) - position;
                if (difference == 0)
                {
                    // Say what we claim before claiming it, so that if we die in between, others can tell.
                    Volatile.Write(ref record[1], position + 1);
                    long seen = Interlocked.CompareExchange(ref Tail, position + 1, position);
                    if (seen == position)
                    {
                        break;
                    }
                    position = seen;
                }
                else if (difference < 0)
                {
                    Volatile.Write(ref record[1], 0);
                    return false; // full: the slot still holds a message from a lap ago
                }
                else
                {
                    position = Volatile.Read(ref Tail);
                }
            }
            *(int*)(slot + 8) = message.Length;
            message.CopyTo(new Span<byte>(slot + SlotHeader, message.Length));
            Volatile.Write(ref *(long*)slot, position + 1);
            Volatile.Write(ref record[1], 0);
        }
        finally
        {
            _writeGate.Exit();
        }
        Signal(ReadSignal, ReadersAsleep);
        return true;
    }

    /// <summary>
    /// Takes one message and hands its bytes to <paramref name="read"/> while they are still in the
    /// slot (no copy); false when empty. Messages whose writer died are skipped.
    /// </summary>
    public bool TryRead<TState, TResult>(TState state, ReadMessage<TState, TResult> read, out TResult result)
    {
        bool freed = false;
        try
        {
            _readGate.Enter();
            try
            {
                long* record = Register(writer: false);
                while (true)
                {
                    long position = Volatile.Read(ref Head);
                    byte* slot = Slot(position);
                    long difference = Volatile.Read(ref *(long*)slot) - (position + 1);
                    if (difference < 0)
                    {
                        result = default!;
                        return false; // empty (or the next message is still being written)
                    }
                    if (difference > 0)
                    {
                        continue; // another reader took it
                    }
                    Volatile.Write(ref record[2], position + 1);
                    if (Interlocked.CompareExchange(ref Head, position + 1, position) != position)
                    {
                        continue;
                    }
                    int length = *(int*)(slot + 8);
                    try
                    {
                        if (length >= 0)
                        {
                            result = read(state, new ReadOnlySpan<byte>(slot + SlotHeader, Math.Min(length, MaxMessage)));
                            return true;
                        }
                    }
                    finally
                    {
                        // Released even if reading threw: the slot must go back to the writers.
                        Volatile.Write(ref *(long*)slot, position + Capacity);
                        Volatile.Write(ref record[2], 0);
                        freed = true;
                    }
                }
            }
            finally
            {
                _readGate.Exit();
            }
        }
        finally
        {
            if (freed)
            {
                Signal(WriteSignal, WritersAsleep);
            }
        }
    }

    /// <summary>Whether a message is ready to read now.</summary>
    public bool HasMessage()
    {
        long position = Volatile.Read(ref Head);
        return Volatile.Read(ref *(long*)Slot(position)) == position + 1;
    }

    /// <summary>Whether a slot is free to write now.</summary>
    public bool HasRoom()
    {
        long position = Volatile.Read(ref Tail);
        return Volatile.Read(ref *(long*)Slot(position)) == position;
    }

    /// <summary>Completes the ring, with an error text or none; false if it was already completed.</summary>
    public bool TryComplete(string? error)
    {
        if (Interlocked.CompareExchange(ref State, Completing, Open) != Open)
        {
            return false;
        }
        if (error is not null)
        {
            int length = Math.Min(error.Length, MaxErrorChars);
            error.AsSpan(0, length).CopyTo(new Span<char>(_ring + ErrorTextOffset, length));
            *(int*)(_ring + ErrorLengthOffset) = length;
        }
        Volatile.Write(ref State, error is null ? Completed : Faulted);
        // Everyone asleep must look: readers to finish, writers to stop.
        Interlocked.Increment(ref *ReadSignal);
        Libc.FutexWake(ReadSignal, int.MaxValue);
        Interlocked.Increment(ref *WriteSignal);
        Libc.FutexWake(WriteSignal, int.MaxValue);
        return true;
    }

    /// <summary>Where the ring is mapped in this process: one per channel, whatever the number of objects over it.</summary>
    public nint Address => (nint)_ring;

    /// <summary>Marks this process as a writer of the ring (see the remarks on writers that all die).</summary>
    public void RegisterWriter()
    {
        _writeGate.Enter();
        try
        {
            Register(writer: true);
        }
        finally
        {
            _writeGate.Exit();
        }
    }

    /// <summary>
    /// Stops counting this process as a writer: it ended its part normally (disposed the channel or
    /// is exiting), so its absence later is not a death. Writing again registers it again.
    /// </summary>
    public void RetireWriter()
    {
        _writeGate.Enter();
        try
        {
            if (_record is not null)
            {
                Interlocked.And(ref *(int*)(_record + 3), ~WriterFlag);
            }
        }
        finally
        {
            _writeGate.Exit();
        }
    }

    private long* Record(int index) => (long*)(_ring + RecordsOffset + index * RecordSize);

    /// <summary>This process's record, taken on first use; under one of the gates.</summary>
    private long* Register(bool writer)
    {
        // A stale null only sends this thread to TakeRecord, which finds the same record.
        long* record = _record;
        if (record is null)
        {
            record = _record = TakeRecord();
        }
        // The flag lives in the process's record, not in this object: every object over this ring in
        // this process shares it, and a write through any of them after a retirement sets it again.
        if (writer && (Volatile.Read(ref *(int*)(record + 3)) & WriterFlag) == 0)
        {
            Interlocked.Or(ref *(int*)(record + 3), WriterFlag);
        }
        return record;
    }

    private long* TakeRecord()
    {
        lock (_registerGate)
        {
            if (_record is not null)
            {
                return _record;
            }
            long me = ProcessIdentity.Current;
            for (int i = 0; i < MaxProcesses; i++)
            {
                if (Volatile.Read(ref Record(i)[0]) == me)
                {
                    return Record(i);
                }
            }
            for (int pass = 0; pass < 2; pass++)
            {
                for (int i = 0; i < MaxProcesses; i++)
                {
                    long* record = Record(i);
                    long identity = Volatile.Read(ref record[0]);
                    // First pass: free records. Second: records of dead processes that hold no claim
                    // (a dead writer's flag goes with its record: it no longer counts as a writer).
                    bool free = pass == 0
                        ? identity == 0
                        : identity != 0 && record[1] == 0 && record[2] == 0 && !ProcessIdentity.IsAlive(identity);
                    if (free && Interlocked.CompareExchange(ref record[0], me, identity) == identity)
                    {
                        Volatile.Write(ref *(int*)(record + 3), 0);
                        return record;
                    }
                }
            }
            throw new InvalidOperationException(
                $"More than {MaxProcesses} live processes use this channel; a channel serves at most {MaxProcesses} processes at a time.");
        }
    }

    private static void Signal(int* signal, int* asleep)
    {
        // Only a sleeper needs the system call, and only once per sleep: the flag is read after the
        // slot was published, and a sleeper sets it before its last look, so one of the two always
        // sees the other; whoever clears it wakes every sleeper, who set it again if they sleep on.
        // (A count of waiters would make every message pay a system call until the sleeper ran.)
        // The barrier between the publication and the flag's read is the sleeper's to pay: see SleepFence.
        SleepFence.Waker();
        if (Volatile.Read(ref *asleep) != 0 && Interlocked.Exchange(ref *asleep, 0) != 0)
        {
            Interlocked.Increment(ref *signal);
            Libc.FutexWake(signal, int.MaxValue);
        }
    }

    /// <summary>A sleeper's side of <see cref="Signal"/>: announce the sleep, then return the value to sleep on (the caller looks once more before sleeping).</summary>
    public static int PrepareToSleep(int* signal, int* asleep)
    {
        Interlocked.Exchange(ref *asleep, 1);
        // The flag is visible; now make every waker's publication visible, or its read of the flag see it.
        SleepFence.Sleeper();
        return Volatile.Read(ref *signal);
    }

    /// <summary>Encodes an error for <see cref="TryComplete"/>: the type and message of the writer's exception.</summary>
    public static string Describe(Exception error) => new StringBuilder(error.GetType().FullName).Append(": ").Append(error.Message).ToString();
}

/// <summary>Reads one message in place; the span is valid only during the call.</summary>
internal delegate TResult ReadMessage<TState, TResult>(TState state, ReadOnlySpan<byte> message);
