using System.Diagnostics;
using System.Runtime.InteropServices;
using Multiprocessing.Interop;
using Multiprocessing.Payload;
using Multiprocessing.Serialization;
using Multiprocessing.Wire;

namespace Multiprocessing.WorkerRuntime;

/// <summary>
/// The worker process's side of the control channel. Called by the host executable
/// (Multiprocessing.WorkerHost), never by user code.
/// </summary>
internal static class WorkerHostEntry
{
    /// <summary>Runs the worker until the parent says stop or goes away.</summary>
    /// <param name="args">Unused; the connection details arrive in the environment, out of sight of other users.</param>
    /// <returns>The process exit code.</returns>
    public static int Run(string[] args)
    {
        _ = args;
        string? socketPath = Environment.GetEnvironmentVariable(Protocol.SocketVariable);
        string? token = Environment.GetEnvironmentVariable(Protocol.TokenVariable);
        if (socketPath is null || token is null)
        {
            Console.Error.WriteLine("Multiprocessing.WorkerHost is started by the Multiprocessing library; it is not a program to run by hand.");
            return WorkerExitCodes.Usage;
        }
        // Before anything slow: a stop signal to the whole group may come while this worker starts.
        StopSignals.Register();
        // Children this worker starts must not mistake themselves for workers.
        Environment.SetEnvironmentVariable(Protocol.SocketVariable, null);
        Environment.SetEnvironmentVariable(Protocol.TokenVariable, null);
        // A worker should stop mapping a parent's array soon after the parent releases it.
        Sharing.SegmentAttachments.CollectAfterSweep = true;
        // The parent binds its socket while this process starts; until it has, connecting fails
        // with "no such file" or "refused", and we try again for a bounded time.
        SafeUnixSocket? socket;
        var clock = Stopwatch.StartNew();
        while ((socket = Libc.TryConnectUnix(socketPath, out int errno)) is null)
        {
            bool notListeningYet = errno is Libc.Errno.ENOENT or Libc.ECONNREFUSED;
            if (!notListeningYet || clock.Elapsed > TimeSpan.FromSeconds(30) || Libc.GetParentProcessId() == 1)
            {
                Console.Error.WriteLine($"Worker {Environment.ProcessId} could not connect to its parent at {socketPath}: {Marshal.GetPInvokeErrorMessage(errno)}");
                return WorkerExitCodes.CannotConnect;
            }
            Thread.Sleep(1);
        }
        return new CommandLoop(socket).Run(token);
    }
}

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

/// <summary>
/// Two threads that trade the roles of reader and executor (see <see cref="Loop"/>): one always
/// reads frames, one runs units in order and writes their results.
/// </summary>
internal sealed class CommandLoop
{
    private readonly SafeUnixSocket _socket;

    public CommandLoop(SafeUnixSocket socket)
    {
        _socket = socket;
        _results = new ResultFrames(_output, FlushOutput);
    }

    /// <summary>Set to 1 in a worker's environment (tests only) to batch the results of every unit, however long it took.</summary>
    public const string BatchAlwaysVariable = "MP_WORKER_BATCH_ALWAYS";

    private readonly Dictionary<int, object> _methods = [];
    private readonly Queue<Command> _queue = new();
    private readonly HashSet<long> _cancelled = [];
    // A plain object: the idle thread waits on it with Monitor.Wait.
    private readonly object _queueLock = new();
    private readonly Lock _sendLock = new();
    private readonly PayloadWriter _output = new(64 * 1024);
    private readonly ResultFrames _results;
    private WorkerStatus? _status;
    private CodecProvider _codecs = CodecProvider.Default;
    private bool _reportMemory;
    private Command? _current;
    private bool _executing;
    private bool _readerWanted;
    // A SIGTERM's grace passed without the parent stopping this worker (see StopSignals): no unit starts any more.
    private bool _leaving;
    private readonly FrameBuffer _frames = new(int.MaxValue);
    private long _itemsStarted;
    private readonly object _exitGate = new();
    private int _exitCode = -1;
    // The pool's ProcessPoolOptions.WorkerExit (a delegate, or the exception that resolving it threw) and its time.
    private object? _workerExit;
    private TimeSpan _workerExitTimeout;

    // Batched results (see SecureResults), all under _sendLock: _output holds frames [0, _sent) that
    // were sent, [_sent, _journaled) that are in the journal and not sent, and then the rest.
    private static readonly long s_batchBelow = Environment.GetEnvironmentVariable(BatchAlwaysVariable) == "1"
        ? long.MaxValue // tests: every unit's results go through the journal
        : Stopwatch.Frequency / 20_000; // units under 50 µs
    private static readonly long s_batchFor = Stopwatch.Frequency / 1000;     // a result waits about 1 ms at most
    private const int MaxBatchedOutput = 256 * 1024;
    private readonly object _flushGate = new();
    private int _sent;
    private int _journaled;
    private long _batchStarted;
    private long _lastUnitTicks = long.MaxValue;
    private bool _flushThreadStarted;

    private sealed class Command(long sequence, int methodId, int count, byte[] items, int itemsLength)
    {
        public long Sequence { get; } = sequence;
        public int MethodId { get; } = methodId;
        public int Count { get; } = count;
        public byte[] Items { get; } = items;
        public int ItemsLength { get; } = itemsLength;
        /// <summary>The caller's W3C trace context, when the Run frame carried one.</summary>
        public string? TraceParent { get; init; }
        public string? TraceState { get; init; }
        public CancellationTokenSource? Cancellation { get; set; }
        public int ExitCode { get; init; } = -1;
        public bool IsShutdown => ExitCode >= 0;
        /// <summary>A WorkerProcess's end: exit as a .NET Main does, after the foreground threads the method started.</summary>
        public bool WaitForThreads { get; init; }
    }

    public int Run(string token)
    {
        SendNow(Protocol.Frame(FrameType.Hello, w =>
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
                long sequence = reader.Read<long>();
                int methodId = reader.Read<int>();
                int count = reader.Read<int>();
                string? traceParent = null;
                string? traceState = null;
                if ((count & Protocol.TraceContextFlag) != 0)
                {
                    count &= ~Protocol.TraceContextFlag;
                    traceParent = reader.ReadString();
                    traceState = reader.ReadString();
                }
                if (count < 0)
                {
                    throw new InvalidDataException($"a Run frame with {count} items");
                }
                ReadOnlySpan<byte> items = reader.ReadBytes(reader.Remaining);
                byte[] copy = items.ToArray();
                Enqueue(new Command(sequence, methodId, count, copy, copy.Length) { TraceParent = traceParent, TraceState = traceState });
                break;
            case FrameType.Cancel:
                Cancel(reader.Read<long>());
                break;
            case FrameType.Shutdown:
                int exitCode = reader.Read<int>();
                // The flag is optional: a pool's Shutdown has none and keeps the immediate exit.
                Enqueue(new Command(0, 0, 0, [], 0) { ExitCode = exitCode, WaitForThreads = reader.Remaining > 0 && reader.Read<bool>() });
                break;
            default:
                throw new InvalidDataException($"an unknown frame type {(byte)type}");
        }
    }

    private void Initialize(ref PayloadReader reader)
    {
        _status = WorkerStatus.Open(reader.ReadRequiredString());
        _frames.MaxFrame = reader.Read<long>();
        _results.MaxFrame = _frames.MaxFrame;
        string? serializerType = reader.ReadString();
        _reportMemory = reader.Read<bool>();
        bool hasInitializer = reader.Read<bool>();
        try
        {
            if (serializerType is not null)
            {
                _codecs = new CodecProvider(SerializerTypes.CreateSerializer(serializerType));
            }
            if (hasInitializer)
            {
                Delegate initializer = TaskMethod.Resolve(ref reader);
                byte[]? argument = reader.Read<bool>() ? reader.ReadBytes(reader.Read<int>()).ToArray() : null;
                ReadWorkerExit(ref reader);
                if (argument is not null)
                {
                    // Action<TArg> or Func<TArg, Task>: the argument is read with the codec of its declared type.
                    Type argumentType = initializer.GetType().GetGenericArguments()[0];
                    typeof(CommandLoop).GetMethod(nameof(RunInitializer), System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!
                        .MakeGenericMethod(argumentType)
                        .CreateDelegate<Action<Delegate, byte[], CodecProvider>>()(initializer, argument, _codecs);
                }
                else
                {
                    RunHook(initializer);
                }
            }
            else
            {
                ReadWorkerExit(ref reader);
            }
        }
        catch (Exception e)
        {
            SendNow(Protocol.Frame(FrameType.InitFailed, w => Protocol.WriteError(w, ErrorKind.TaskThrew, 0, e is System.Reflection.TargetInvocationException { InnerException: { } inner } ? inner : e, _frames.MaxFrame)));
            return;
        }
        SendNow(Protocol.Frame(FrameType.Ready));
    }

    /// <summary>Runs a hook that takes no argument (an initializer or a worker-exit hook): an <see cref="Action"/>, or a <see cref="Func{Task}"/> awaited on this thread.</summary>
    private static void RunHook(Delegate hook)
    {
        switch (hook)
        {
            case Action action:
                action();
                break;
            case Func<Task> asynchronous:
                asynchronous().GetAwaiter().GetResult();
                break;
        }
    }

    private static void RunInitializer<TArg>(Delegate initializer, byte[] argument, CodecProvider codecs)
    {
        var reader = new PayloadReader(argument);
        TArg value = codecs.Get<TArg>().Read(ref reader);
        switch (initializer)
        {
            case Action<TArg> action:
                action(value);
                break;
            case Func<TArg, Task> asynchronous:
                asynchronous(value).GetAwaiter().GetResult();
                break;
        }
    }

    /// <summary>Reads the pool's worker-exit hook, if the Init frame has one (a WorkerProcess's has none).</summary>
    private void ReadWorkerExit(ref PayloadReader reader)
    {
        if (reader.Remaining == 0 || !reader.Read<bool>())
        {
            return;
        }
        try
        {
            _workerExit = TaskMethod.Resolve(ref reader);
        }
        catch (InvalidOperationException e)
        {
            // Reported when the hook is due, as its failure, not as the initializer's.
            _workerExit = e;
        }
        _workerExitTimeout = TimeSpan.FromTicks(reader.Read<long>());
    }

    /// <summary>
    /// Runs the pool's worker-exit hook, for at most the pool's ShutdownTimeout, and tells the pool
    /// if it threw or did not return. On its own thread so that a hook that hangs cannot keep the
    /// worker: once the time is up, the worker exits without it.
    /// </summary>
    private void RunWorkerExit()
    {
        object? hook = _workerExit;
        if (hook is null)
        {
            return;
        }
        Exception? error = hook as Exception;
        if (hook is Delegate method)
        {
            Exception? thrown = null;
            var thread = new Thread(() =>
            {
                try
                {
                    RunHook(method);
                }
                catch (Exception e)
                {
                    thrown = e;
                }
            }) { IsBackground = true, Name = "mp worker exit" };
            thread.Start();
            double milliseconds = _workerExitTimeout.TotalMilliseconds;
            bool returned = thread.Join(milliseconds >= int.MaxValue ? Timeout.Infinite : (int)milliseconds);
            error = returned ? thrown : new TimeoutException(
                $"It did not return within the pool's ShutdownTimeout of {_workerExitTimeout.TotalSeconds:0.###} s; the worker exited without waiting for it.");
        }
        if (error is not null)
        {
            SendNow(Protocol.Frame(FrameType.WorkerExitFailed, w => Protocol.WriteError(w, ErrorKind.TaskThrew, 0, error, _frames.MaxFrame)));
        }
    }

    private void Register(ref PayloadReader reader)
    {
        int id = reader.Read<int>();
        object entry;
        try
        {
            Delegate function = TaskMethod.Resolve(ref reader);
            entry = Invoker.Create(function, _codecs);
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
                FlushOutput();
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
                FlushOutput();
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
                RunWorkerExit();
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
            SecureResults();
            Execute(command, method);
            lock (_queueLock)
            {
                _current = null;
            }
            command.Cancellation!.Dispose();
        }
    }

    /// <summary>
    /// Makes the results written so far safe before the next unit runs. Sending them does that at one
    /// system call per unit, most of a tiny unit's cost; so after a unit that took less than
    /// <see cref="s_batchBelow"/> they are copied into the journal in the status page instead (which
    /// the parent reads if this process dies) and sent together: when the queue runs dry, when the
    /// journal or the buffer fills, or, by the flush thread, at most about a millisecond after the
    /// first of them finished, so that no result waits long behind a slow unit.
    /// </summary>
    private void SecureResults()
    {
        WorkerStatus? status = _status;
        lock (_sendLock)
        {
            int unjournaled = _output.Position - _journaled;
            if (unjournaled == 0)
            {
                return;
            }
            if (status is not null && _lastUnitTicks < s_batchBelow && _output.Position <= MaxBatchedOutput
                && status.TryAppendJournal(_output.Buffer.AsSpan(_journaled, unjournaled)))
            {
                _journaled = _output.Position;
                if (_batchStarted == 0)
                {
                    _batchStarted = Stopwatch.GetTimestamp();
                    // Started with the first batch, not with the worker: a worker of longer tasks never needs it.
                    if (!_flushThreadStarted)
                    {
                        _flushThreadStarted = true;
                        new Thread(FlushDeferredLoop) { IsBackground = true, Name = "mp flush" }.Start();
                    }
                    lock (_flushGate)
                    {
                        Monitor.Pulse(_flushGate);
                    }
                }
                return;
            }
        }
        FlushOutput();
    }

    /// <summary>The flush thread: sends journaled results that have waited about a millisecond while the executor was busy.</summary>
    private void FlushDeferredLoop()
    {
        while (true)
        {
            lock (_flushGate)
            {
                while (Volatile.Read(ref _batchStarted) == 0)
                {
                    Monitor.Wait(_flushGate);
                }
            }
            Thread.Sleep(1);
            lock (_sendLock)
            {
                if (_batchStarted != 0 && Stopwatch.GetTimestamp() - _batchStarted >= s_batchFor && _status is { } status)
                {
                    // The journal holds exactly the whole frames from _sent to _journaled; the executor
                    // may be writing the next frame beyond them, so those bytes are sent from the journal.
                    try
                    {
                        Libc.SendAll(_socket, status.Journal);
                    }
                    catch (IOException)
                    {
                        Libc.ExitImmediately(WorkerExitCodes.Normal);
                    }
                    _sent = _journaled;
                    status.ResetJournal();
                    _batchStarted = 0;
                }
            }
        }
    }

    private void Execute(Command command, object? method)
    {
        WorkerStatus status = _status ?? throw new InvalidDataException("a Run frame before Init");
        long first = _itemsStarted;
        long started = Stopwatch.GetTimestamp();
        lock (_sendLock)
        {
            _results.Begin(command.Sequence);
        }
        // Untraced (no context sent, no listener here) costs a branch: no activity, no tags.
        Activity? run = command.TraceParent is null && !LibraryTracing.Source.HasListeners()
            ? null
            : LibraryTracing.StartRun(command.TraceParent, command.TraceState, (method as Invoker)?.MethodName ?? "", command.Count);
        // The executor is the only writer of results, so the buffer is ours while the items run;
        // the send lock is only taken by the flushes between units, and by one that sends a
        // PartialResult frame when the unit's results outgrow a frame (see ResultFrames).
        (ErrorKind Kind, int Item, Exception Error)? failure = method switch
        {
            Invoker invoker => invoker.Run(command.Items.AsSpan(0, command.ItemsLength), command.Count, first, status, command.Cancellation!.Token, _results),
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
        lock (_sendLock)
        {
            ResultStatus outcome = ResultStatus.Ok;
            if (failure is { } f)
            {
                _results.DiscardResults();
                bool cancelled = f.Error is OperationCanceledException && command.Cancellation!.IsCancellationRequested;
                outcome = cancelled ? ResultStatus.Cancelled : ResultStatus.Error;
                Protocol.WriteError(_output, f.Kind, f.Item, f.Error, _frames.MaxFrame, (f.Error as ResultTooLargeException)?.Size ?? 0);
            }
            _lastUnitTicks = Stopwatch.GetTimestamp() - started;
            _results.End(outcome, _lastUnitTicks, _reportMemory ? ProcFs.PrivateResidentBytes() : 0L);
        }
    }

    private void WriteCancelled(Command command)
    {
        _itemsStarted += command.Count;
        _status?.Advance(_itemsStarted);
        lock (_sendLock)
        {
            int frame = Protocol.BeginFrame(_output, FrameType.Result);
            new ResultHeader(command.Sequence, ResultStatus.Cancelled, 0, 0, 0).Write(_output);
            Protocol.EndFrame(_output, frame);
        }
    }

    private void FlushOutput()
    {
        lock (_sendLock)
        {
            if (_output.Position == 0)
            {
                return;
            }
            try
            {
                Libc.SendAll(_socket, _output.Buffer.AsSpan(_sent, _output.Position - _sent));
            }
            catch (IOException)
            {
                // The parent closed the channel or died: nobody is waiting for anything this process does.
                Libc.ExitImmediately(WorkerExitCodes.Normal);
            }
            // Only now: if this process dies between the send and here, the parent sees those
            // results twice, and skips the journal's copies by their sequence numbers.
            _status?.ResetJournal();
            _sent = 0;
            _journaled = 0;
            _batchStarted = 0;
            _output.Reset();
            _output.ShrinkIfLarger(1024 * 1024);
        }
    }

    private void SendNow(byte[] frame)
    {
        lock (_sendLock)
        {
            _output.WriteBytes(frame);
        }
        FlushOutput();
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
        FlushOutput();
        try
        {
            SendNow(Protocol.Frame(FrameType.Leaving, w => w.WriteString(
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
            SendNow(Protocol.Frame(FrameType.Fatal, w => w.WriteString(message)));
        }
        catch (IOException)
        {
        }
        Console.Error.WriteLine($"Worker {Environment.ProcessId} stopped: {message}.");
        Libc.ExitImmediately(WorkerExitCodes.ProtocolError);
    }
}
