using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;

namespace Multiprocessing.Tests;

/// <summary>Named time-outs: tests wait on the thing itself, bounded by these, never with sleeps.</summary>
internal static class Bounds
{
    /// <summary>Something that should happen; if it takes this long, it is not going to.</summary>
    public static readonly TimeSpan Unexpected = TimeSpan.FromSeconds(60);

    /// <summary>How long to watch for something that must not happen, where the library would do it within a fraction of this.</summary>
    public static readonly TimeSpan NotHappening = TimeSpan.FromSeconds(1.5);
}

internal static class Wait
{
    /// <summary>Polls <paramref name="condition"/> until true or fails with <paramref name="what"/>.</summary>
    public static async Task UntilAsync(Func<bool> condition, string what, TimeSpan? bound = null)
    {
        var clock = Stopwatch.StartNew();
        TimeSpan limit = bound ?? Bounds.Unexpected;
        while (!condition())
        {
            if (clock.Elapsed > limit)
            {
                Assert.Fail($"Timed out after {limit.TotalSeconds:0} s waiting until {what}.");
            }
            await Task.Delay(20);
        }
    }

    public static bool ProcessExists(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }
}

public sealed record Point(double X, double Y);

/// <summary>The methods tests run in workers. All static: that is what crosses a process boundary.</summary>
internal static class Tasks
{
    public static int Square(int x) => x * x;

    public static double Norm(Point p) => Math.Sqrt(p.X * p.X + p.Y * p.Y);

    public static async Task<string> EchoAsync(string text)
    {
        await Task.Yield();
        return text.ToUpperInvariant();
    }

    public static void AppendLine((string Path, int Value) a) => File.AppendAllText(a.Path, a.Value + "\n");

    public static void TouchFile((string Directory, int Value) a) =>
        File.WriteAllText(Path.Combine(a.Directory, a.Value.ToString(CultureInfo.InvariantCulture)), "");

    public static int Pid(int _) => Environment.ProcessId;

    public static byte[] Reverse(byte[] block)
    {
        byte[] copy = (byte[])block.Clone();
        Array.Reverse(copy);
        Array.Reverse(copy);
        return copy;
    }

    public static T Identity<T>(T value) => value;

    public static int Throw(int x) => x == 13 ? throw new InvalidOperationException($"thirteen is unlucky ({x})") : x;

    /// <summary>Ends the worker's own process with <paramref name="a"/>.Signal when the value matches.</summary>
    public static int SignalSelfAt((int Value, int Trigger, string Signal) a)
    {
        if (a.Value == a.Trigger)
        {
            using var kill = Process.Start("kill", $"-{a.Signal} {Environment.ProcessId}");
            kill.WaitForExit();
            Thread.Sleep(Timeout.Infinite);
        }
        return a.Value * 10;
    }

    /// <summary>SIGKILLs its own process at once (no helper process) when the value matches.</summary>
    public static int KillSelfAt((int Value, int Trigger) a)
    {
        if (a.Value == a.Trigger)
        {
            _ = NativeKill(Environment.ProcessId, 9);
            Thread.Sleep(Timeout.Infinite);
        }
        return a.Value * 10;
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill")]
    private static extern int NativeKill(int pid, int signal);

    /// <summary>Reads an unmapped address: a real access violation, which ends a .NET process.</summary>
    public static int CrashAt((int Value, int Trigger) a) =>
        a.Value == a.Trigger ? (int)System.Runtime.InteropServices.Marshal.ReadInt64(new IntPtr(0x7fffdead0000)) : a.Value * 10;

    public static int FailFastAt((int Value, int Trigger) a)
    {
        if (a.Value == a.Trigger)
        {
            Environment.FailFast("test: fail fast");
        }
        return a.Value * 10;
    }

    public static int Recurse(int depth) => depth == int.MinValue ? 0 : Recurse(depth + 1) + 1;

    /// <summary>Signals that it started (a marker file), then never returns and ignores cancellation.</summary>
    public static int SleepForeverAfterMarker(string marker)
    {
        File.WriteAllText(marker, "started");
        Thread.Sleep(Timeout.Infinite);
        return 0;
    }

    public static int SleepForever(int x)
    {
        Thread.Sleep(Timeout.Infinite);
        return x;
    }

    /// <summary>Waits for cancellation and leaves a marker file when it sees it.</summary>
    public static int WaitForCancellation(string marker, CancellationToken token)
    {
        File.WriteAllText(marker + ".started", "");
        token.WaitHandle.WaitOne(Bounds.Unexpected);
        if (token.IsCancellationRequested)
        {
            File.WriteAllText(marker, "cancelled");
        }
        token.ThrowIfCancellationRequested();
        return 0;
    }

    public static long Allocate(int megabytes)
    {
        s_hold.Add(new byte[megabytes << 20]);
        foreach (byte[] block in s_hold)
        {
            Array.Fill(block, (byte)1);
        }
        return Environment.ProcessId;
    }

    private static readonly List<byte[]> s_hold = [];

    /// <summary>Runs in a WorkerProcess: starts a pool of its own, reports its workers' ids, then waits to be killed.</summary>
    public static void HostPool(string pidFile)
    {
        var pool = new ProcessPool(new ProcessPoolOptions { Workers = 2 });
        pool.WaitForWorkersAsync().Wait(Bounds.Unexpected);
        File.WriteAllText(pidFile + ".tmp", string.Join(",", pool.WorkerProcessIds));
        File.Move(pidFile + ".tmp", pidFile);
        Thread.Sleep(Timeout.Infinite);
    }

    public static int Compute(int x) => x * 2 + 1;

    public static string? s_initialized;

    public static void Initialize() => s_initialized = "ready in " + Environment.ProcessId;

    public static void InitializeAndThrow() => throw new FileNotFoundException("model.bin is missing");

    public static string ReadInitialized(int _) => s_initialized ?? "not initialised";

    /// <summary>Writes a frame with an impossible length on the worker's own control socket.</summary>
    public static int CorruptChannel(int _)
    {
        ControlSocket.Send([0xff, 0xff, 0xff, 0x7f, 13, 0, 0, 0]);
        Thread.Sleep(Timeout.Infinite);
        return 0;
    }
}

/// <summary>The hostile tasks' way to the worker's own control channel: every Unix stream socket this process holds.</summary>
public static class ControlSocket
{
    /// <summary>Writes <paramref name="bytes"/> on each of them, under the worker's feet.</summary>
    public static void Send(byte[] bytes)
    {
        foreach (string fd in Directory.GetFiles("/proc/self/fd"))
        {
            FileSystemInfo? target = new FileInfo(fd).ResolveLinkTarget(returnFinalTarget: false);
            if (target?.Name.StartsWith("socket:", StringComparison.Ordinal) == true && int.TryParse(Path.GetFileName(fd), out int number))
            {
                using var socket = new Socket(new SafeSocketHandle(number, ownsHandle: false));
                if (socket.AddressFamily == AddressFamily.Unix && socket.SocketType == SocketType.Stream)
                {
                    socket.Send(bytes);
                }
            }
        }
    }
}

/// <summary>
/// A Python script run as another local user (nobody, uid 65534) through setpriv, for what only
/// another user can do to this one. The tests run as root on developer machines and in CI; this
/// fails loudly rather than passing without having tested anything when they do not.
/// </summary>
internal sealed class AnotherUser : IDisposable
{
    private readonly Process _process;

    private AnotherUser(Process process) => _process = process;

    public int Pid => _process.Id;

    public static AnotherUser Start(string script)
    {
        Skip.IfNot(Multiprocessing.Interop.Libc.EffectiveUserId == 0 && File.Exists("/usr/bin/setpriv") && File.Exists("/usr/bin/python3"),
            "This test runs a process of another user: it needs root, /usr/bin/setpriv and /usr/bin/python3 (CI has them).");
        var start = new ProcessStartInfo("/usr/bin/setpriv")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = "/",
        };
        foreach (string argument in new[] { "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c", script })
        {
            start.ArgumentList.Add(argument);
        }
        return new AnotherUser(Process.Start(start)!);
    }

    /// <summary>The script's next line of output; its error output if it ended instead.</summary>
    public async Task<string> ReadLineAsync()
    {
        string? line = await _process.StandardOutput.ReadLineAsync().WaitAsync(Bounds.Unexpected);
        return line ?? $"(the script ended: {await _process.StandardError.ReadToEndAsync().WaitAsync(Bounds.Unexpected)})";
    }

    public void Dispose()
    {
        try
        {
            _process.StandardInput.Close();
            if (!_process.WaitForExit(Bounds.Unexpected))
            {
                _process.Kill();
            }
        }
        finally
        {
            _process.Dispose();
        }
    }
}
