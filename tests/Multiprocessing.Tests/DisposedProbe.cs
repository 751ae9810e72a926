namespace Multiprocessing.Tests;

/// <summary>
/// Walks public members of disposed objects and records every one that does not behave: a member
/// that touches the memory must throw <see cref="ObjectDisposedException"/>, a member documented as
/// safe after Dispose must not throw. Run inside a worker process: a member that touches unmapped
/// memory kills that process (an access violation cannot be caught), which the test sees as the
/// worker dying instead of taking the test host down.
/// </summary>
internal sealed class DisposedProbe
{
    private readonly List<string> _problems = [];

    public string Report => string.Join("\n", _problems);

    public void Throws(string member, Action action)
    {
        try
        {
            action();
            _problems.Add($"{member}: returned normally");
        }
        catch (ObjectDisposedException)
        {
        }
        catch (Exception e)
        {
            _problems.Add($"{member}: {e.GetType().Name}: {e.Message}");
        }
    }

    /// <summary>As <see cref="Throws"/>, for a call whose task must fault; one still pending after <see cref="Bounds.NotHappening"/> is recorded as hanging.</summary>
    public void ThrowsAsync(string member, Func<Task> action)
    {
        Task task;
        try
        {
            task = action();
        }
        catch (Exception e)
        {
            Throws(member, () => throw e);
            return;
        }
        if (!((IAsyncResult)task).AsyncWaitHandle.WaitOne(Bounds.NotHappening))
        {
            _problems.Add($"{member}: still waiting after {Bounds.NotHappening.TotalSeconds} s");
            return;
        }
        Throws(member, () => task.GetAwaiter().GetResult());
    }

    public void Safe(string member, Func<object?> action)
    {
        try
        {
            _ = action();
        }
        catch (Exception e)
        {
            _problems.Add($"{member} (safe after Dispose): {e.GetType().Name}: {e.Message}");
        }
    }
}
