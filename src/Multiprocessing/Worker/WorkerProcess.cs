using System.Diagnostics;
using System.Runtime.Serialization;
using Multiprocessing.Payload;
using Multiprocessing.Serialization;
using Multiprocessing.Wire;
using Multiprocessing.Worker;

namespace Multiprocessing;

/// <summary>
/// One static method running in a fresh process, like Python's <c>multiprocessing.Process</c>.
/// </summary>
/// <remarks>
/// The process exits when the method has returned and every foreground thread it started has
/// ended, as a .NET <c>Main</c> does (and a Python <c>Process</c>, which joins its non-daemon
/// threads): with code 0 if the method succeeded and 1 if it threw. Background threads
/// (<see cref="Thread.IsBackground"/>, thread-pool work) do not keep it alive, and
/// <see cref="AppDomain.ProcessExit"/> handlers run before it exits. <see cref="Completion"/>
/// completes when the method returns, possibly before the process exits.
/// <see cref="Completion"/> (and <see cref="WorkerProcess{TResult}.Result"/>) carry the outcome:
/// a <see cref="WorkerException"/> if the method threw, a <see cref="WorkerCrashedException"/> if
/// the process died first. If this process exits, the worker exits too, foreground threads or not.
/// </remarks>
/// <example>
/// <code>
/// using var child = WorkerProcess.Start(Compute, 42);
/// await child.WaitForExitAsync();
/// int answer = await child.Result;
/// </code>
/// </example>
public class WorkerProcess : IDisposable, IWorkerListener
{
    private static readonly WorkerSettings s_settings = new(false, new Dictionary<string, string?>(), TimeSpan.FromSeconds(60), 1L << 30);

    private readonly ChildProcess _process;
    private readonly WorkerOutput _output;
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly string _methodName;
    private WorkerConnection? _connection;
    private int _disposed;

    private protected WorkerProcess(Delegate function, Func<PayloadWriter, int> writeArgument, Type argumentType, Type resultType)
    {
        TaskMethod method = TaskMethod.From(function, "func");
        method.EnsureTransferable(CodecProvider.Default, argumentType, resultType, "func");
        _methodName = method.DisplayName;
        byte[] register = method.RegisterFrame(1);
        var run = new PayloadWriter(Protocol.RunHeaderSize + 16);
        Protocol.BeginRun(run);
        int count = writeArgument(run);
        Protocol.EndRun(run, count);
        byte[] runFrame = run.ToArray();
        Protocol.StampRun(runFrame, 1, 1);
        (ChildProcess process, WorkerOutput output, ConnectionListener.Expectation expectation) = WorkerConnection.Launch(s_settings);
        _process = process;
        _output = output;
        Id = process.Id;
        _ = ConnectAsync(process, output, expectation, register, runFrame);
    }

    /// <summary>The worker's process id.</summary>
    public int Id { get; }

    /// <summary>Whether the process has exited.</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>The exit code once the process has exited (0: the method returned, 1: it threw, 128 + N: signal N ended it); null while it runs.</summary>
    public int? ExitCode => _process.ExitCode;

    /// <summary>Completes when the method has returned; faults with <see cref="WorkerException"/> or <see cref="WorkerCrashedException"/>.</summary>
    public Task Completion => _completion.Task;

    /// <summary>Runs <paramref name="action"/>(<paramref name="argument"/>) in a new process.</summary>
    /// <typeparam name="T">The argument type.</typeparam>
    /// <param name="action">A static method, or a lambda that captures nothing.</param>
    /// <param name="argument">Serialised and sent to the process.</param>
    /// <returns>The running process.</returns>
    /// <exception cref="ArgumentException">The delegate captures state or its types cannot cross a process boundary.</exception>
    /// <exception cref="SerializationException">The argument cannot be serialised.</exception>
    /// <exception cref="WorkerStartException">The process could not be started.</exception>
    public static WorkerProcess Start<T>(Action<T> action, T argument) => new WorkerProcess<Unit>(action, Writer(argument), typeof(T));

    /// <inheritdoc cref="Start{T}(Action{T}, T)"/>
    public static WorkerProcess Start<T>(Func<T, Task> action, T argument) => new WorkerProcess<Unit>(action, Writer(argument), typeof(T));

    /// <summary>Runs <paramref name="func"/>(<paramref name="argument"/>) in a new process; its result arrives in <see cref="WorkerProcess{TResult}.Result"/>.</summary>
    /// <typeparam name="T">The argument type.</typeparam>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="func">A static method, or a lambda that captures nothing.</param>
    /// <param name="argument">Serialised and sent to the process.</param>
    /// <returns>The running process.</returns>
    /// <exception cref="ArgumentException">The delegate captures state or its types cannot cross a process boundary.</exception>
    /// <exception cref="SerializationException">The argument cannot be serialised.</exception>
    /// <exception cref="WorkerStartException">The process could not be started.</exception>
    public static WorkerProcess<TResult> Start<T, TResult>(Func<T, TResult> func, T argument) => new(func, Writer(argument), typeof(T));

    /// <inheritdoc cref="Start{T, TResult}(Func{T, TResult}, T)"/>
    public static WorkerProcess<TResult> Start<T, TResult>(Func<T, Task<TResult>> func, T argument) => new(func, Writer(argument), typeof(T));

    private static Func<PayloadWriter, int> Writer<T>(T argument) => writer =>
    {
        TaskArguments.Write(CodecProvider.Default.Get<T>(), writer, argument, "The argument");
        return 1;
    };

    private async Task ConnectAsync(ChildProcess process, WorkerOutput output, ConnectionListener.Expectation expectation, byte[] register, byte[] run)
    {
        try
        {
            WorkerConnection connection = await WorkerConnection.ConnectAsync(process, output, expectation, s_settings, this, InitBody.Plain.Write, CancellationToken.None).ConfigureAwait(false);
            _connection = connection;
            connection.Send(register);
            connection.Send(run);
            connection.Flush();
        }
        catch (WorkerStartException) when (HasExited)
        {
            // Killed (or crashed) before it connected: to the caller that is a dead worker, not a failed start.
            int? exitCode = ExitCode;
            var crash = new WorkerCrashedException($"Worker process {Id} ended before it ran {_methodName}: {WorkerCrashedException.Describe(exitCode)}.{WorkerCrashedException.LastWords(output)}", Id, exitCode, null);
            SetError(crash);
            _completion.TrySetException(crash);
        }
        catch (Exception e)
        {
            SetError(e);
            _completion.TrySetException(e);
        }
    }

    /// <summary>Waits for the process to exit.</summary>
    /// <param name="cancellationToken">Stops waiting (the process keeps running).</param>
    /// <returns>A task that completes when the process has exited.</returns>
    /// <exception cref="ObjectDisposedException">This object was disposed before the process's end was seen.</exception>
    public async Task WaitForExitAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            await _process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new ObjectDisposedException(nameof(WorkerProcess));
        }
        // Then its last lines: everything it printed has been forwarded when this completes (unless
        // a grandchild inherited its output and keeps it open, which must not keep us waiting).
        await _output.WaitForDrainAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Waits up to <paramref name="timeout"/> for the process to exit.</summary>
    /// <param name="timeout">How long to wait.</param>
    /// <returns>Whether it exited.</returns>
    public bool WaitForExit(TimeSpan timeout) => _process.WaitForExit(timeout);

    /// <summary>Kills the process (SIGKILL). <see cref="Completion"/> then faults with <see cref="WorkerCrashedException"/> unless the method had already returned.</summary>
    public void Kill()
    {
        if (_connection is { } connection)
        {
            connection.Kill("WorkerProcess.Kill was called");
        }
        else
        {
            _process.Kill();
        }
    }

    void IWorkerListener.OnFrame(WorkerConnection connection, FrameType type, ref PayloadReader body)
    {
        if (type != FrameType.Result)
        {
            return;
        }
        bool ok = ResultHeader.Read(ref body).Status == ResultStatus.Ok;
        try
        {
            if (ok)
            {
                SetResult(ref body);
                _completion.TrySetResult();
            }
            else
            {
                RemoteError error = RemoteError.Read(ref body);
                Exception exception = error.ToException(_methodName, null, connection.ProcessId, s_settings.MaxMessageSize);
                SetError(exception);
                _completion.TrySetException(exception);
            }
        }
        catch (Exception e) when (e is InvalidDataException or SerializationException or System.Text.Json.JsonException)
        {
            ok = false;
            SetError(e);
            _completion.TrySetException(e);
        }
        connection.Send(Protocol.Frame(FrameType.Shutdown, w =>
        {
            w.Write(ok ? WorkerExitCodes.Normal : WorkerExitCodes.TaskFailed);
            w.Write(true); // exit after the foreground threads the method started, as a .NET Main does
        }));
        connection.Flush();
    }

    void IWorkerListener.OnDisconnected(WorkerConnection connection, string? protocolError)
    {
        int? exitCode = connection.WaitForExitCode(TimeSpan.FromSeconds(5));
        if (!_completion.Task.IsCompleted)
        {
            string cause = protocolError is not null ? $"it was stopped because {protocolError}"
                : connection.KillReason is not null ? $"it was killed because {connection.KillReason}"
                : WorkerCrashedException.Describe(exitCode);
            var crash = new WorkerCrashedException($"Worker process {connection.ProcessId} died while running {_methodName}: {cause}.{WorkerCrashedException.LastWords(connection.Output)}", connection.ProcessId, exitCode, null);
            SetError(crash);
            _completion.TrySetException(crash);
        }
    }

    private protected virtual void SetResult(ref PayloadReader body)
    {
    }

    private protected virtual void SetError(Exception error)
    {
    }

    /// <summary>Kills the process if it still runs and releases its resources.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        if (_connection is { } connection)
        {
            connection.Dispose();
        }
        else
        {
            _process.Kill();
            _process.Dispose();
        }
        GC.SuppressFinalize(this);
    }
}

/// <summary>A <see cref="WorkerProcess"/> whose method returns a value.</summary>
/// <typeparam name="TResult">The result type.</typeparam>
public sealed class WorkerProcess<TResult> : WorkerProcess
{
    private readonly TaskCompletionSource<TResult> _result = new(TaskCreationOptions.RunContinuationsAsynchronously);

    internal WorkerProcess(Delegate function, Func<PayloadWriter, int> writeArgument, Type argumentType)
        : base(function, writeArgument, argumentType, typeof(TResult))
    {
        _ = _result.Task.ContinueWith(static t => _ = t.Exception, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously);
    }

    /// <summary>The method's result; faults with <see cref="WorkerException"/> or <see cref="WorkerCrashedException"/>.</summary>
    public Task<TResult> Result => _result.Task;

    private protected override void SetResult(ref PayloadReader body) => _result.TrySetResult(CodecProvider.Default.Get<TResult>().Read(ref body));

    private protected override void SetError(Exception error) => _result.TrySetException(error);
}
