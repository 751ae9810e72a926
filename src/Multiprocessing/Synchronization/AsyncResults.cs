namespace Multiprocessing.Synchronization;

/// <summary>
/// The awaiting halves of the primitives' async methods. They live here because the primitives are
/// unsafe classes (pointers into the shared segment), and C# allows no <c>await</c> in an unsafe
/// context; the primitives do the synchronous part and hand the pending task to these.
/// </summary>
internal static class AsyncResults
{
    /// <summary>Awaits a wait and maps whether it completed (false: timed out).</summary>
    public static async ValueTask<T> Then<T>(Task<bool> waiting, Func<bool, T> map) => map(await waiting.ConfigureAwait(false));

    /// <summary>Awaits a wait, then what settles its outcome (a barrier arrival whose phase may still be ending).</summary>
    public static async ValueTask<bool> ThenAsync(Task<bool> waiting, Func<bool, Task<bool>> settle) =>
        await settle(await waiting.ConfigureAwait(false)).ConfigureAwait(false);

    /// <summary>Awaits a wait and throws <paramref name="timedOut"/>'s exception when it timed out.</summary>
    public static async ValueTask OrThrow(ValueTask<bool> waiting, Func<TimeoutException> timedOut)
    {
        if (!await waiting.ConfigureAwait(false))
        {
            throw timedOut();
        }
    }

    /// <summary>Awaits a wait for a result and throws <paramref name="timedOut"/>'s exception when there is none.</summary>
    public static async ValueTask<T> OrThrow<T>(ValueTask<T?> waiting, Func<TimeoutException> timedOut) where T : class =>
        await waiting.ConfigureAwait(false) ?? throw timedOut();

    /// <summary>Awaits a condition wait, then takes the lock back whatever the outcome, as Monitor.Wait does.</summary>
    public static async ValueTask<bool> ThenReacquire(Task<bool> waiting, LockReleaser held, Func<bool> releasedLock)
    {
        try
        {
            return await waiting.ConfigureAwait(false);
        }
        finally
        {
            if (releasedLock())
            {
                held.IsAbandoned |= await held.Lock.ReacquireAsync().ConfigureAwait(false);
            }
        }
    }
}
