using System.Diagnostics;
using Multiprocessing.Interop;
using Multiprocessing.Payload;
using Multiprocessing.Serialization;
using Multiprocessing.Wire;

namespace Multiprocessing.WorkerRuntime;

/// <summary>
/// The worker's command loop: two threads that trade the roles of reader and executor (see
/// <see cref="Loop"/>). One always reads the parent's frames (Init, Register, Run, Cancel,
/// Shutdown); the other runs the queued units in order and hands their results to the
/// <see cref="ResultSender"/>.
/// </summary>
internal sealed class CommandLoop
{
    private readonly SafeUnixSocket _socket;
    private readonly ResultSender _sender;
    private readonly WorkerHooks _hooks = new();
    private readonly Dictionary<int, object> _methods = [];
    private readonly Queue<Command> _queue = new();
    private readonly HashSet<long> _cancelled = [];
    // A plain object: the idle thread waits on it with Monitor.Wait.
    private readonly object _queueLock = new();
    private readonly FrameBuffer _frames = new(int.MaxValue);
    private CodecProvider _codecs = CodecProvider.Default;
    private bool _reportMemory;
    private Command? _current;
    private bool _executing;
    private bool _readerWanted;
    // A SIGTERM's grace passed without the parent stopping this worker (see StopSignals): no unit starts any more.
    private bool _leaving;
    private long _itemsStarted;
    private readonly object _exitGate = new();
    private int _exitCode = -1;

    public CommandLoop(SafeUnixSocket socket)
    {
        _socket = socket;
        _sender = new ResultSender(socket);
    }

    public int Run(string token)
    {
        _sender.Send(Protocol.Frame(FrameType.Hello, w =>
        {
            w.WriteBytes(System.Text.Encoding.ASCII.GetBytes(token));
            w.Write(Environment.ProcessId);
        }));
        // The main thread only waits for a WorkerProcess's end, so that it can return from Main
        // whichever loop thread runs the Shutdown (the other may be inside a blocking receive).
        new Thread(() => Loop(reader: false)) { IsBackground = true, Name = "mp worker" }.Start();
        StopSignals.OnLeave(Leave);
        new Thread(() => Loop(reader: true)) { IsBackground = true, Name = "mp worker reader" }.Start();
        lock (_exitGate)
        {
            while (_exitCode < 0)
            {
                Monitor.Wait(_exitGate);
            }
            return _exitCode;
        }
    }

    /// <summary>
    /// Both threads run this loop, as leader and follower. The reader receives frames; when a unit
    /// arrives and nothing is executing, the reader runs it itself and hands reading to the other
    /// thread, so a task starts without waiting for a sleeping thread to wake (tens of microseconds
    /// on these machines). Someone is always reading, so a cancellation or the parent's exit is seen
    /// while a task runs.
    /// </summary>
    private void Loop(bool reader)
    {
        while (true)
        {
            if (reader)
            {
                if (!ReadOnce())
                {
                    // The parent closed the channel or died: nobody is waiting for anything this process does.
                    Libc.ExitImmediately(WorkerExitCodes.Normal);
                }
                lock (_queueLock)
                {
                    if (_executing || _queue.Count == 0)
                    {
                        continue;
                    }
                    _executing = true;
                    _readerWanted = true;
                    Monitor.PulseAll(_queueLock);
                }
                reader = false;
            }
            ExecuteQueued();
            lock (_queueLock)
            {
                while (!_readerWanted)
                {
                    Monitor.Wait(_queueLock);
                }
                _readerWanted = false;
                reader = true;
            }
        }
    }

    /// <summary>Receives once and dispatches every complete frame; false at end of stream.</summary>
    private bool ReadOnce()
    {
        if (!_frames.Receive(_socket))
        {
            return false;
        }
        try
        {
            while (_frames.TryNext(out FrameType type, out ReadOnlySpan<byte> body))
            {
                Dispatch(type, body);
            }
        }
        catch (InvalidDataException e)
        {
            Fatal(e.Message);
        }
        return true;
    }

    private void Dispatch(FrameType type, ReadOnlySpan<byte> body)
    {
        var reader = new PayloadReader(body);
        switch (type)
        {
            case FrameType.Init:
                Initialize(ref reader);
                break;
            case FrameType.Register:
                Register(ref reader);
                break;
            case FrameType.Run:
                Enqueue(Command.ReadRun(ref reader));
                break;
            case FrameType.Cancel:
                Cancel(reader.Read<long>());
                break;
            case FrameType.Shutdown:
                Enqueue(Command.ReadShutdown(ref reader));
                break;
            default:
                throw new InvalidDataException($"an unknown frame type {(byte)type}");
        }
    }

    private void Initialize(ref PayloadReader reader)
    {
        _sender.Status = WorkerStatus.Open(reader.ReadRequiredString());
        _frames.MaxFrame = reader.Read<long>();
        _sender.MaxFrame = _frames.MaxFrame;
        string? serializerType = reader.ReadString();
        string? jsonContextType = reader.ReadString();
        _reportMemory = reader.Read<bool>();
        bool hasInitializer = reader.Read<bool>();
        try
        {
            // The pool's serializer and JSON context, rebuilt here from their names, as a channel's are.
            _codecs = SerializerTypes.ProviderFor(serializerType, jsonContextType);
            _hooks.Start(ref reader, hasInitializer, _codecs);
        }
        catch (Exception e)
        {
            _sender.Send(Protocol.Frame(FrameType.InitFailed, w => Protocol.WriteError(w, ErrorKind.TaskThrew, 0, e is System.Reflection.TargetInvocationException { InnerException: { } inner } ? inner : e, _frames.MaxFrame)));
            return;
        }
        _sender.Send(Protocol.Frame(FrameType.Ready));
    }

    private void Register(ref PayloadReader reader)
    {
        int id = reader.Read<int>();
        object entry;
        try
        {
            Delegate function = TaskMethod.Resolve(ref reader);
            CodecProvider codecs = _codecs;
            if (reader.Remaining > 0)
            {
                // A method sent by a cluster client names the client's codecs (ProcessPool.DescribeEncoded):
                // its chunks were encoded with those, whatever this worker's pool uses.
                string? serializerType = reader.ReadString();
                string? jsonContextType = reader.ReadString();
                try
                {
                    codecs = SerializerTypes.ProviderFor(serializerType, jsonContextType);
                }
                catch (Exception e)
                {
                    throw new UnavailableCodecs(e);
                }
            }
            entry = Invoker.Create(function, codecs);
            ((Invoker)entry).MethodName = TaskMethod.Describe(function.Method);
        }
        catch (Exception e)
        {
            entry = e;
        }
        lock (_queueLock)
        {
            _methods[id] = entry;
        }
    }

    private void Enqueue(Command command)
    {
        lock (_queueLock)
        {
            _queue.Enqueue(command);
        }
    }

    private void Cancel(long sequence)
    {
        CancellationTokenSource? running = null;
        lock (_queueLock)
        {
            if (_current?.Sequence == sequence)
            {
                running = _current.Cancellation;
            }
            else
            {
                _cancelled.Add(sequence);
            }
        }
        running?.Cancel();
    }

    /// <summary>Runs queued units until the queue is empty, then gives up the executor role.</summary>
    private void ExecuteQueued()
    {
        while (true)
        {
            Command? command = null;
            object? method = null;
            bool cancelled = false;
            bool leaving = false;
            lock (_queueLock)
            {
                if (_leaving)
                {
                    leaving = true;
                }
                else if (_queue.TryDequeue(out command))
                {
                    cancelled = _cancelled.Remove(command.Sequence);
                    _methods.TryGetValue(command.MethodId, out method);
                    if (!cancelled && !command.IsShutdown)
                    {
                        command.Cancellation = new CancellationTokenSource();
                        _current = command;
                    }
                }
            }
            if (leaving)
            {
                LeaveNow();
            }
            if (command is null)
            {
                _sender.Flush();
                lock (_queueLock)
                {
                    if (_queue.Count == 0 && !_leaving)
                    {
                        _executing = false;
                        return;
                    }
                }
                continue;
            }
            if (command.IsShutdown)
            {
                _sender.Flush();
                if (command.WaitForThreads)
                {
                    // A WorkerProcess ends like a .NET Main (and a CPython Process): Main returns, the
                    // runtime waits for the foreground threads the method started, then runs the
                    // ProcessExit handlers (which retire this process's channel writers) and exits
                    // with the code. This thread is a background thread: parked, it holds nothing up.
                    lock (_exitGate)
                    {
                        _exitCode = command.ExitCode;
                        Monitor.Pulse(_exitGate);
                    }
                    Thread.Sleep(Timeout.Infinite);
                }
                // A normal end: the pool's worker-exit hook runs, then the process's exit hooks (a
                // channel writer in this process is done, not dead).
                if (_hooks.RunWorkerExit() is { } failed)
                {
                    _sender.Send(Protocol.Frame(FrameType.WorkerExitFailed, w => Protocol.WriteError(w, ErrorKind.TaskThrew, 0, failed, _frames.MaxFrame)));
                }
                ProcessExitHooks.ExitNormally(command.ExitCode);
            }
            if (cancelled)
            {
                WriteCancelled(command);
                continue;
            }
            // Results of finished units are safe before the next unit starts: if that unit kills
            // the process, the parent must still get them, and must not mistake a finished task for
            // the one that was running.
            _sender.Secure();
            Execute(command, method);
            lock (_queueLock)
            {
                _current = null;
            }
            command.Cancellation!.Dispose();
        }
    }

    private void Execute(Command command, object? method)
    {
        WorkerStatus status = _sender.Status ?? throw new InvalidDataException("a Run frame before Init");
        long first = _itemsStarted;
        long started = Stopwatch.GetTimestamp();
        ResultFrames results = _sender.BeginUnit(command.Sequence);
        // Untraced (no context sent, no listener here) costs a branch: no activity, no tags.
        Activity? run = command.TraceParent is null && !LibraryTracing.Source.HasListeners()
            ? null
            : LibraryTracing.StartRun(command.TraceParent, command.TraceState, (method as Invoker)?.MethodName ?? "", command.Count);
        // The executor is the only writer of results, so the buffer is ours while the items run;
        // the send lock is only taken by the flushes between units, and by one that sends a
        // PartialResult frame when the unit's results outgrow a frame (see ResultFrames).
        (ErrorKind Kind, int Item, Exception Error)? failure = method switch
        {
            Invoker invoker => invoker.Run(command.Items.AsSpan(0, command.ItemsLength), command.Count, first, status, command.Cancellation!.Token, results),
            UnavailableCodecs e => (ErrorKind.CodecNotCreated, 0, e.InnerException!),
            Exception e => (ErrorKind.MethodNotResolved, 0, e),
            _ => (ErrorKind.MethodNotResolved, 0, new InvalidDataException($"method {command.MethodId} was never registered")),
        };
        if (run is not null)
        {
            if (failure is { } failed)
            {
                run.SetStatus(ActivityStatusCode.Error, failed.Error.GetType().FullName);
            }
            run.Stop();
            // The executor thread runs every unit: no unit's context may stay current for the next.
            Activity.Current = null;
        }
        _itemsStarted = first + command.Count;
        status.Advance(_itemsStarted);
        bool cancelled = failure is { Error: OperationCanceledException } && command.Cancellation!.IsCancellationRequested;
        _sender.EndUnit(failure, cancelled, started, _reportMemory);
    }

    private void WriteCancelled(Command command)
    {
        _itemsStarted += command.Count;
        _sender.Status?.Advance(_itemsStarted);
        _sender.WriteCancelled(command.Sequence);
    }

    /// <summary>The grace after a SIGTERM passed (see <see cref="StopSignals"/>): leave after the unit that runs, or now if none does.</summary>
    private void Leave()
    {
        lock (_queueLock)
        {
            _leaving = true;
            if (_executing)
            {
                return; // the executor leaves before its next unit
            }
        }
        LeaveNow();
    }

    private void LeaveNow()
    {
        _sender.Flush();
        try
        {
            _sender.Send(Protocol.Frame(FrameType.Leaving, w => w.WriteString(
                $"it was sent SIGTERM and its parent did not stop it within {StopSignals.Grace.TotalSeconds:0.###} s, so it finished its task and left")));
        }
        catch (IOException)
        {
        }
        ProcessExitHooks.ExitNormally(WorkerExitCodes.Normal);
    }

    private void Fatal(string message)
    {
        try
        {
            _sender.Send(Protocol.Frame(FrameType.Fatal, w => w.WriteString(message)));
        }
        catch (IOException)
        {
        }
        Console.Error.WriteLine($"Worker {Environment.ProcessId} stopped: {message}.");
        Libc.ExitImmediately(WorkerExitCodes.ProtocolError);
    }

    /// <summary>A method's codecs, named by its Register frame, could not be created here: its every unit fails with the cause.</summary>
    private sealed class UnavailableCodecs(Exception cause) : Exception(cause.Message, cause);
}
