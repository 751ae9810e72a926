using System.Runtime.InteropServices;
using Multiprocessing.Interop;
using Multiprocessing.Wire;

namespace Multiprocessing.WorkerRuntime;

/// <summary>
/// What a worker does with the signals that stop a program. A service manager (systemd's default
/// KillMode=control-group, docker stop) and a terminal's Ctrl+C send them to the whole process
/// group: the application and its workers at once. The application decides how to stop (a host
/// closes its pool and lets running tasks finish); a worker that died of the signal would fail the
/// task it was running, and the pool would report a crash during an orderly stop.
/// </summary>
/// <remarks>
/// So SIGINT and SIGQUIT are ignored, as Python's pool workers ignore SIGINT: the parent's stop, or
/// its exit (the control channel closes), ends the worker. SIGTERM is left to the parent too, at
/// first; but a worker sent SIGTERM on its own, by someone who wants that process gone, still
/// goes: if its parent has not stopped it within <see cref="Grace"/>, it finishes the unit it is
/// running, sends the results, and exits with code 0 (the pool runs the units it had not started on
/// other workers and replaces it). A second SIGTERM ends it at once.
/// </remarks>
internal static class StopSignals
{
    /// <summary>Milliseconds; set in a worker's environment (tests) to shorten <see cref="Grace"/>.</summary>
    public const string GraceVariable = "MP_WORKER_SIGTERM_GRACE_MS";

    private static readonly Lock s_lock = new();
    private static PosixSignalRegistration[]? s_registrations;
    private static Timer? s_grace;
    private static Action? s_leave;
    private static bool s_leaveDue;
    private static int s_terms;

    /// <summary>How long a worker sent SIGTERM waits for its parent to stop it before it leaves by itself.</summary>
    public static TimeSpan Grace { get; } =
        int.TryParse(Environment.GetEnvironmentVariable(GraceVariable), out int ms) && ms >= 0 ? TimeSpan.FromMilliseconds(ms) : TimeSpan.FromSeconds(10);

    public static void Register()
    {
        s_registrations =
        [
            PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal),
            PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal),
            PosixSignalRegistration.Create(PosixSignal.SIGQUIT, OnSignal),
        ];
    }

    /// <summary>Sets what leaving means once the worker runs (finish the unit, then exit); until then it exits at once.</summary>
    public static void OnLeave(Action leave)
    {
        bool due;
        lock (s_lock)
        {
            s_leave = leave;
            due = s_leaveDue;
        }
        if (due)
        {
            leave();
        }
    }

    private static void OnSignal(PosixSignalContext context)
    {
        context.Cancel = true;
        if (context.Signal != PosixSignal.SIGTERM)
        {
            return;
        }
        if (Interlocked.Increment(ref s_terms) > 1)
        {
            Libc.ExitImmediately(128 + 15);
        }
        s_grace = new Timer(static _ => Leave(), null, Grace, Timeout.InfiniteTimeSpan);
    }

    private static void Leave()
    {
        Action? leave;
        lock (s_lock)
        {
            s_leaveDue = true;
            leave = s_leave;
        }
        if (leave is null)
        {
            // Not connected yet: no unit runs, nobody is owed a result.
            Libc.ExitImmediately(WorkerExitCodes.Normal);
        }
        leave?.Invoke();
    }
}
