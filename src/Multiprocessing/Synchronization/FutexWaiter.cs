using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;
using Multiprocessing.Interop;

namespace Multiprocessing.Synchronization;

/// <summary>
/// Runs the asynchronous waits of this process without holding a thread per waiter. A dedicated
/// thread sleeps in one <c>futex_waitv</c> call on every word its waits need (Linux 5.16+, at most
/// 128 words per call) plus a private control word that other threads bump to hand it new waits
/// or cancellations. Whenever it wakes, it polls each of its waits (<see cref="FutexWait.TryComplete"/>)
/// and completes the finished ones' tasks, whose continuations run on the thread pool
/// (<see cref="TaskCreationOptions.RunContinuationsAsynchronously"/>), never on this thread.
/// </summary>
/// <remarks>
/// Waits on the same word share one entry, so 10,000 waiters on one lock cost one entry. A thread
/// watches up to 127 distinct words; the 128th distinct word starts a second thread, and so on.
/// Threads are background threads that stay for the life of the process once started. On a
/// kernel without futex_waitv the thread falls back to polling every few milliseconds.
/// </remarks>
internal static unsafe class FutexWaiter
{
    private const int WordsPerThread = Libc.FutexWaitvMax - 1;
    private static readonly TimeSpan s_pollWithoutWaitv = TimeSpan.FromMilliseconds(5);
    private static readonly Lock s_gate = new();
    private static readonly List<WaiterThread> s_threads = [];

    private static readonly Task<bool> s_true = Task.FromResult(true);
    private static readonly Task<bool> s_false = Task.FromResult(false);

    private static volatile bool s_polling;

    /// <summary>Whether a waiter thread found no futex_waitv in this kernel and polls instead (for tests and diagnostics).</summary>
    public static bool IsPolling => s_polling;

    /// <summary>How many waiter threads this process has started (for tests and diagnostics).</summary>
    public static int ThreadCount
    {
        get
        {
            lock (s_gate)
            {
                return s_threads.Count;
            }
        }
    }

    /// <summary>
    /// Begins <paramref name="wait"/> and returns a task that completes with true when it completes,
    /// false when <paramref name="timeout"/> passes first, faults with <see cref="ObjectDisposedException"/>
    /// when the object closes, and is cancelled with <paramref name="cancellationToken"/>.
    /// </summary>
    public static Task<bool> WaitAsync(FutexWait wait, TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled<bool>(cancellationToken);
        }
        // This use lasts until the wait completes: the waiter thread reads the words until then.
        wait.Memory.Enter();
        FutexLook first;
        try
        {
            wait.Begin();
            first = wait.Look(deadlinePassed: timeout == TimeSpan.Zero, cancellationToken, out _);
        }
        catch
        {
            wait.Memory.Exit();
            throw;
        }
        if (first != FutexLook.Sleep)
        {
            wait.Memory.Exit();
            return ResultOf(wait, first, cancellationToken);
        }
        wait.Completion = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        wait.Deadline = timeout == Timeout.InfiniteTimeSpan ? long.MaxValue : Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        wait.Token = cancellationToken;
        WaiterThread thread = Assign(wait);
        if (cancellationToken.CanBeCanceled)
        {
            wait.Registration = cancellationToken.UnsafeRegister(static state => ((WaiterThread)state!).Poke(), thread);
        }
        thread.Add(wait);
        return wait.Completion.Task;
    }

    /// <summary>The task a finished look stands for; the same whether the first look or the waiter thread's found it.</summary>
    private static Task<bool> ResultOf(FutexWait wait, FutexLook look, CancellationToken cancellationToken) => look switch
    {
        FutexLook.Completed => s_true,
        FutexLook.TimedOut => s_false,
        FutexLook.Cancelled => Task.FromCanceled<bool>(cancellationToken),
        _ => Task.FromException<bool>(wait.Memory.Disposed()),
    };

    private static WaiterThread Assign(FutexWait wait)
    {
        nint word = (nint)wait.Word;
        lock (s_gate)
        {
            WaiterThread? chosen = s_threads.Find(t => t.Words.ContainsKey(word)) ?? s_threads.Find(t => t.Words.Count < WordsPerThread);
            if (chosen is null)
            {
                chosen = new WaiterThread(s_threads.Count + 1);
                s_threads.Add(chosen);
            }
            chosen.Words[word] = chosen.Words.GetValueOrDefault(word) + 1;
            wait.Owner = chosen;
            return chosen;
        }
    }

    private sealed class WaiterThread
    {
        private readonly int* _control = (int*)NativeMemory.AllocZeroed(sizeof(int));
        private readonly Libc.FutexWaitv* _entries = (Libc.FutexWaitv*)NativeMemory.Alloc(Libc.FutexWaitvMax, (nuint)sizeof(Libc.FutexWaitv));
        private readonly ConcurrentQueue<FutexWait> _incoming = new();
        private readonly List<FutexWait> _waits = [];
        private readonly Dictionary<nint, int> _observed = [];
        private bool _noWaitv;

        public WaiterThread(int number)
        {
            // The thread and its native buffers live as long as the process: waits come and go.
            var thread = new Thread(Loop) { IsBackground = true, Name = $"mp futex waiter {number}" };
            thread.UnsafeStart();
        }

        /// <summary>The words this thread's waits sleep on, with how many waits use each; guarded by the static gate.</summary>
        public Dictionary<nint, int> Words { get; } = [];

        public void Add(FutexWait wait)
        {
            _incoming.Enqueue(wait);
            Poke();
        }

        /// <summary>Makes the thread look at its waits now: a new wait, or a cancelled one.</summary>
        public void Poke()
        {
            Interlocked.Increment(ref *_control);
            Libc.FutexWake(_control, 1, processPrivate: true);
        }

        private void Loop()
        {
            int mixedRounds = 0;
            while (true)
            {
                // Read before looking at the waits: a Poke after this read makes the sleep return at once.
                int control = Volatile.Read(ref *_control);
                while (_incoming.TryDequeue(out FutexWait? added))
                {
                    _waits.Add(added);
                }
                long now = Stopwatch.GetTimestamp();
                long nearest = long.MaxValue;
                bool mixed = false;
                _observed.Clear();
                for (int i = _waits.Count - 1; i >= 0; i--)
                {
                    FutexWait wait = _waits[i];
                    if (Poll(wait, now, out int observed))
                    {
                        _waits[i] = _waits[^1];
                        _waits.RemoveAt(_waits.Count - 1);
                        continue;
                    }
                    // Waits on one word share an entry, so they must agree on the value to sleep on.
                    // If the word changed while they were polled, one of them may already be able to
                    // complete under the newer value: poll again rather than sleep on a stale value.
                    if (_observed.TryGetValue((nint)wait.Word, out int seen) && seen != observed)
                    {
                        mixed = true;
                    }
                    _observed[(nint)wait.Word] = observed;
                    nearest = Math.Min(nearest, wait.Deadline);
                }
                if (mixed && ++mixedRounds < 4)
                {
                    continue;
                }
                // Still mixed after a few rounds (the word is busy): sleep briefly, never long on a stale value.
                TimeSpan sleep = mixed ? TimeSpan.FromMilliseconds(1) : _waits.Count == 0 ? TimeSpan.FromHours(1) : FutexWait.Slice;
                mixedRounds = 0;
                if (nearest != long.MaxValue)
                {
                    TimeSpan untilDeadline = Stopwatch.GetElapsedTime(now, nearest);
                    if (untilDeadline < sleep)
                    {
                        sleep = untilDeadline < TimeSpan.Zero ? TimeSpan.Zero : untilDeadline;
                    }
                }
                Sleep(control, sleep);
            }
        }

        private void Sleep(int control, TimeSpan sleep)
        {
            if (!_noWaitv)
            {
                int count = 0;
                _entries[count++] = Libc.FutexWaitv.For(_control, control, processPrivate: true);
                foreach ((nint word, int value) in _observed)
                {
                    _entries[count++] = Libc.FutexWaitv.For((int*)word, value, processPrivate: false);
                }
                if (Libc.FutexWaitMany(_entries, count, Libc.MonotonicNow() + sleep, out _) is not null)
                {
                    return;
                }
                _noWaitv = true;
                s_polling = true;
            }
            Libc.FutexSleep(_control, control, _observed.Count == 0 || sleep < s_pollWithoutWaitv ? sleep : s_pollWithoutWaitv, processPrivate: true);
        }

        /// <summary>Completes <paramref name="wait"/> if it is done, timed out, cancelled or closed; otherwise gives the value to sleep on.</summary>
        private static bool Poll(FutexWait wait, long now, out int observed)
        {
            observed = 0;
            Task<bool> outcome;
            try
            {
                FutexLook look = wait.Look(deadlinePassed: now >= wait.Deadline, wait.Token, out observed);
                if (look == FutexLook.Sleep)
                {
                    return false;
                }
                outcome = ResultOf(wait, look, wait.Token);
            }
            catch (Exception e)
            {
                // Not expected (the looks only read and swap words); fail this wait, not the thread.
                outcome = Task.FromException<bool>(e);
            }
            Finish(wait, outcome);
            return true;
        }

        private static void Finish(FutexWait wait, Task<bool> outcome)
        {
            wait.Registration.Unregister();
            lock (s_gate)
            {
                var thread = (WaiterThread)wait.Owner!;
                nint word = (nint)wait.Word;
                if (thread.Words.TryGetValue(word, out int uses))
                {
                    if (uses <= 1)
                    {
                        thread.Words.Remove(word);
                    }
                    else
                    {
                        thread.Words[word] = uses - 1;
                    }
                }
            }
            wait.Memory.Exit();
            TaskCompletionSource<bool> completion = wait.Completion!;
            if (outcome.IsCanceled)
            {
                completion.TrySetCanceled(wait.Token);
            }
            else if (outcome.Exception is { } error)
            {
                completion.TrySetException(error.InnerExceptions);
            }
            else
            {
                completion.TrySetResult(outcome.Result);
            }
        }
    }
}
