using System.Diagnostics;
using Multiprocessing.Interop;
using Multiprocessing.Payload;
using Multiprocessing.Serialization;
using Multiprocessing.Wire;

namespace Multiprocessing.Worker;

/// <summary>A worker process just started (or the reason it could not be): either <see cref="Process"/> with its output and expectation, or <see cref="Error"/>.</summary>
internal sealed record LaunchedWorker(ChildProcess? Process, WorkerOutput? Output, ConnectionListener.Expectation? Expectation, WorkerStartException? Error);

/// <summary>Receives what a worker sends. Called on the connection's reader thread.</summary>
internal interface IWorkerListener
{
    void OnFrame(WorkerConnection connection, FrameType type, ref PayloadReader body);

    /// <summary>The worker's channel closed: it exited, was killed, or broke the protocol (<paramref name="protocolError"/>).</summary>
    void OnDisconnected(WorkerConnection connection, string? protocolError);
}

/// <summary>
/// The parent's end of one worker: its process, its control socket, the reader thread that turns
/// the worker's frames into callbacks, and a send path that coalesces small frames into one write.
/// </summary>
internal sealed class WorkerConnection : IDisposable
{
    private const int CoalesceLimit = 16 * 1024;

    private readonly ChildProcess _process;
    private readonly SafeUnixSocket _socket;
    private readonly IWorkerListener _listener;
    private readonly long _maxFrame;
    private readonly TimeSpan _frameTimeout;
    private readonly Timer _frameTimer;
    // The frame in progress, for the frame timer: when its first bytes arrived (0: none in
    // progress), the length it declares and how much of it is here. Written by the reader thread.
    private long _partialSince;
    private long _partialLength;
    private long _partialArrived;
    // Two locks: queuing a frame must never wait behind a write that the worker is slow to read,
    // or the pool's lock (held while queuing) would stall every worker behind one full socket.
    private readonly Lock _queueLock = new();
    private readonly Lock _writeLock = new();
    private List<ArraySegment<byte>> _pending = [];
    private List<ArraySegment<byte>> _sending = [];
    private readonly PayloadWriter _coalesced = new(CoalesceLimit * 2);
    private Thread? _reader;
    private readonly TaskCompletionSource _readerDone = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _disposed;

    private WorkerConnection(ChildProcess process, WorkerOutput output, SafeUnixSocket socket, WorkerStatus status, IWorkerListener listener, long maxFrame, TimeSpan frameTimeout)
    {
        _frameTimeout = frameTimeout;
        _frameTimer = new Timer(static state => ((WorkerConnection)state!).CheckPartialFrame(), this, Timeout.Infinite, Timeout.Infinite);
        _process = process;
        Output = output;
        _socket = socket;
        Status = status;
        _listener = listener;
        _maxFrame = maxFrame;
        ProcessId = process.Id;
    }

    public int ProcessId { get; }

    public WorkerStatus Status { get; }

    /// <summary>The worker's console output, forwarded; its last error lines go into crash reports.</summary>
    public WorkerOutput Output { get; }

    /// <summary>Results that reached the pool from the worker's journal after it died, not through the socket.</summary>
    public int JournaledResultsDelivered { get; private set; }

    /// <summary>Why the parent killed this worker, if it did (a time-out, a cancellation grace period).</summary>
    public string? KillReason { get; private set; }

    /// <summary>Starts a worker process; <see cref="ConnectAsync"/> then waits for it to connect.</summary>
    /// <exception cref="WorkerStartException">The process could not be started.</exception>
    public static (ChildProcess Process, WorkerOutput Output, ConnectionListener.Expectation Expectation) Launch(WorkerSettings settings)
    {
        LaunchedWorker launched = LaunchMany(settings, 1)[0];
        return launched.Error is null ? (launched.Process!, launched.Output!, launched.Expectation!) : throw launched.Error;
    }

    /// <summary>
    /// Starts <paramref name="count"/> worker processes: every process is started before any output
    /// is attached or the listener is bound, so that the later ones do not wait behind the first
    /// one's first-use costs in this process (several milliseconds each on a fresh parent).
    /// </summary>
    /// <returns>One entry per worker, holding either the started process or why it could not start.</returns>
    public static LaunchedWorker[] LaunchMany(WorkerSettings settings, int count)
    {
        var launched = new LaunchedWorker[count];
        var started = new ChildProcess?[count];
        for (int i = 0; i < count; i++)
        {
            ConnectionListener.Expectation expectation = ConnectionListener.Shared.Expect();
            try
            {
                started[i] = WorkerLauncher.Start(expectation, settings);
                launched[i] = new LaunchedWorker(null, null, expectation, null);
            }
            catch (Exception e)
            {
                expectation.Dispose();
                launched[i] = new LaunchedWorker(null, null, null, e as WorkerStartException ?? new WorkerStartException($"A worker process could not be started: {e.Message}", e));
            }
        }
        for (int i = 0; i < count; i++)
        {
            if (started[i] is { } child)
            {
                launched[i] = launched[i] with { Process = child, Output = child.AttachOutput(settings.OutputLogger) };
            }
        }
        // Off this thread: binding costs milliseconds the first time, which the workers' own start-up hides.
        ThreadPool.UnsafeQueueUserWorkItem(static _ => ConnectionListener.Shared.EnsureListening(), null);
        return launched;
    }

    /// <summary>Kills and forgets workers launched for a pool that was not made after all.</summary>
    public static void Abandon(LaunchedWorker[] launched)
    {
        foreach (LaunchedWorker worker in launched)
        {
            worker.Process?.Kill();
            worker.Process?.Dispose();
            worker.Expectation?.Dispose();
        }
    }

    /// <summary>Waits for a launched worker to connect, sends it its Init frame and starts reading what it sends.</summary>
    /// <exception cref="WorkerStartException">The process exited or did not connect in time.</exception>
    public static async Task<WorkerConnection> ConnectAsync(ChildProcess process, WorkerOutput output, ConnectionListener.Expectation expectation, WorkerSettings settings, IWorkerListener listener, Action<PayloadWriter> writeInit, CancellationToken cancellationToken)
    {
        // The status page and the Init frame are made while the worker boots, not after it has
        // connected: the worker would otherwise wait on them (and on this process's first use of
        // shared memory) before it could go on.
        WorkerStatus? created = null;
        WorkerStatus status;
        byte[] init;
        try
        {
            status = created = WorkerStatus.Create();
            init = Protocol.Frame(FrameType.Init, writer =>
            {
                writer.WriteString(status.Path);
                writer.Write(settings.MaxMessageSize);
                writeInit(writer);
            });
        }
        catch
        {
            created?.Dispose();
            expectation.Dispose();
            process.Kill();
            process.Dispose();
            throw;
        }
        SafeUnixSocket socket;
        using (expectation)
        {
            try
            {
                Task exited = process.WaitForExitAsync(cancellationToken);
                Task<SafeUnixSocket> connected = expectation.Connection;
                Task first = await Task.WhenAny(connected, exited, Task.Delay(settings.StartTimeout, cancellationToken)).ConfigureAwait(false);
                if (first != connected)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    if (process.HasExited)
                    {
                        // The exit can be seen before the output's last lines (usually the reason) are read.
                        await output.WaitForDrainAsync(CancellationToken.None).ConfigureAwait(false);
                    }
                    string what = process.HasExited
                        ? $"ended before connecting: {WorkerCrashedException.Describe(process.ExitCode)}"
                        : $"did not connect within {settings.StartTimeout.TotalSeconds:0.#} s";
                    throw new WorkerStartException(
                        $"Worker process {process.Id} {what}. Check that the application's runtime config and the worker host {WorkerLauncher.HostAssemblyName} are intact.{WorkerCrashedException.LastWords(output)}");
                }
                socket = await connected.ConfigureAwait(false);
            }
            catch
            {
                // Not disposed here: a WorkerProcess still reports this process's exit code.
                process.Kill();
                status.Dispose();
                throw;
            }
        }
        var connection = new WorkerConnection(process, output, socket, status, listener, settings.MaxMessageSize, settings.FrameTimeout);
        connection.Send(init);
        connection.Flush();
        connection.StartReader();
        return connection;
    }

    private void StartReader()
    {
        _reader = new Thread(ReadLoop) { IsBackground = true, Name = $"mp worker {ProcessId}" };
        _reader.Start();
    }

    /// <summary>Queues a frame; nothing is written until <see cref="Flush"/>.</summary>
    public void Send(byte[] frame, int length = -1)
    {
        lock (_queueLock)
        {
            _pending.Add(new ArraySegment<byte>(frame, 0, length < 0 ? frame.Length : length));
        }
    }

    /// <summary>Writes every queued frame, small ones coalesced into one system call.</summary>
    public void Flush()
    {
        lock (_writeLock)
        {
            lock (_queueLock)
            {
                if (_pending.Count == 0)
                {
                    return;
                }
                (_pending, _sending) = (_sending, _pending);
            }
            try
            {
                foreach (ArraySegment<byte> segment in _sending)
                {
                    if (segment.Count < CoalesceLimit)
                    {
                        _coalesced.WriteBytes(segment);
                        if (_coalesced.Position >= CoalesceLimit)
                        {
                            SendCoalesced();
                        }
                        continue;
                    }
                    SendCoalesced();
                    SendAll(segment);
                }
                SendCoalesced();
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException)
            {
                // The worker is gone; the reader thread sees the same and reports it once.
                _coalesced.Reset();
            }
            finally
            {
                _sending.Clear();
            }
        }
    }

    private void SendCoalesced()
    {
        if (_coalesced.Position > 0)
        {
            SendAll(new ArraySegment<byte>(_coalesced.Buffer, 0, _coalesced.Position));
            _coalesced.Reset();
        }
    }

    private void SendAll(ArraySegment<byte> segment)
    {
        Libc.SendAll(_socket, segment);
    }

    private void ReadLoop()
    {
        var frames = new FrameBuffer(_maxFrame);
        string? protocolError = null;
        long lastResult = long.MinValue;
        try
        {
            while (frames.Receive(_socket))
            {
                while (frames.TryNext(out FrameType type, out ReadOnlySpan<byte> bytes))
                {
                    if (type == FrameType.Result && bytes.Length >= sizeof(long))
                    {
                        lastResult = BitConverter.ToInt64(bytes);
                    }
                    var body = new PayloadReader(bytes);
                    _listener.OnFrame(this, type, ref body);
                }
                TrackPartialFrame(frames);
                // Work assigned while handling this batch of results leaves in one write.
                Flush();
            }
        }
        catch (InvalidDataException e)
        {
            protocolError = e.Message;
        }
        finally
        {
            if (protocolError is not null)
            {
                KillReason ??= "it broke the control protocol: " + protocolError;
                _process.Kill();
            }
            try
            {
                if (protocolError is null)
                {
                    DeliverJournal(lastResult);
                }
                _listener.OnDisconnected(this, protocolError);
            }
            finally
            {
                _readerDone.TrySetResult();
            }
        }
    }

    /// <summary>Completes when the reader has handled every frame the worker sent and reported the disconnection.</summary>
    public Task ReaderDone => _readerDone.Task;

    /// <summary>
    /// Starts the frame timer when a frame is left incomplete. A worker that sends part of a frame and
    /// then nothing (a false length prefix, a task writing on the control socket, a process stuck
    /// halfway through a send) would otherwise hold its task, and the buffer of what came, for good:
    /// the reader cannot tell a slow frame from one that never ends, so a frame must complete within
    /// the frame time-out of its first bytes, or the worker is killed.
    /// </summary>
    private void TrackPartialFrame(FrameBuffer frames)
    {
        if (frames.Pending == 0)
        {
            Volatile.Write(ref _partialSince, 0);
            return;
        }
        Volatile.Write(ref _partialLength, frames.PendingLength);
        Volatile.Write(ref _partialArrived, frames.Pending);
        if (Volatile.Read(ref _partialSince) == 0)
        {
            Volatile.Write(ref _partialSince, Stopwatch.GetTimestamp());
            try
            {
                _frameTimer.Change(_frameTimeout, Timeout.InfiniteTimeSpan);
            }
            catch (ObjectDisposedException)
            {
            }
        }
    }

    /// <summary>The frame timer: kills the worker if the frame in progress has been incomplete for the frame time-out.</summary>
    private void CheckPartialFrame()
    {
        long since = Volatile.Read(ref _partialSince);
        if (since == 0 || Volatile.Read(ref _disposed) != 0)
        {
            return;
        }
        TimeSpan waited = Stopwatch.GetElapsedTime(since);
        if (waited < _frameTimeout)
        {
            // A later frame in progress than the one this timer was started for.
            try
            {
                _frameTimer.Change(_frameTimeout - waited, Timeout.InfiniteTimeSpan);
            }
            catch (ObjectDisposedException)
            {
            }
            return;
        }
        long length = Volatile.Read(ref _partialLength);
        string declared = length > 0 ? $"of {length:N0} bytes" : "whose length never arrived";
        Kill($"it sent an incomplete frame {declared} ({Volatile.Read(ref _partialArrived):N0} arrived) and did not complete it within {_frameTimeout.TotalSeconds:0.###} s");
    }

    /// <summary>
    /// Delivers the results the worker had journaled but not sent when it went (see
    /// <see cref="WorkerStatus"/>): those of units it finished before the one that killed it. Read
    /// only once the process has exited, when the journal no longer moves; frames the socket already
    /// brought (a worker may die between a send and clearing its journal) are skipped by sequence.
    /// </summary>
    private void DeliverJournal(long lastResult)
    {
        if (!_process.WaitForExit(TimeSpan.FromSeconds(5)))
        {
            return;
        }
        byte[] journal = Status.ReadJournal();
        int at = 0;
        try
        {
            while (journal.Length - at >= Protocol.HeaderSize + sizeof(long))
            {
                int length = BitConverter.ToInt32(journal, at);
                var type = (FrameType)journal[at + sizeof(int)];
                if (type != FrameType.Result || length < 1 + sizeof(long) || length > journal.Length - at - sizeof(int))
                {
                    return; // not a whole result frame: nothing after it can be trusted
                }
                var bytes = new ReadOnlySpan<byte>(journal, at + Protocol.HeaderSize, length - 1);
                at += sizeof(int) + length;
                long sequence = BitConverter.ToInt64(bytes);
                if (sequence <= lastResult)
                {
                    continue;
                }
                lastResult = sequence;
                var body = new PayloadReader(bytes);
                _listener.OnFrame(this, FrameType.Result, ref body);
                JournaledResultsDelivered++;
            }
        }
        catch (InvalidDataException)
        {
            // A journaled frame the pool cannot place: what is left is reported as the worker's death.
        }
    }

    /// <summary>Kills the worker (SIGKILL); the reader thread then reports the disconnection.</summary>
    public void Kill(string reason)
    {
        KillReason ??= reason;
        _process.Kill();
        Libc.Shutdown(_socket);
    }

    /// <summary>Waits (bounded) for the process to end and returns its exit code, or null if it is still running.</summary>
    public int? WaitForExitCode(TimeSpan timeout)
    {
        if (!_process.WaitForExit(timeout))
        {
            return null;
        }
        // Let the forwarded output drain, so a crash report includes the worker's last lines.
        // A grandchild holding the pipe must not stall us.
        Output.WaitForDrain(WorkerOutput.DrainBound);
        return _process.ExitCode;
    }

    public bool HasExited => _process.HasExited;

    public async Task WaitForExitAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // Disposed: the process was waited for then.
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        _process.Kill();
        _frameTimer.Dispose();
        // Shut down first: closing alone would not wake the reader thread blocked in recv.
        Libc.Shutdown(_socket);
        _socket.Dispose();
        if (_reader is not null && _reader != Thread.CurrentThread)
        {
            _reader.Join(TimeSpan.FromSeconds(5));
        }
        _process.WaitForExit(TimeSpan.FromSeconds(5));
        WorkerLauncher.RemoveDiagnosticFiles(ProcessId);
        _process.Dispose();
        Status.Dispose();
    }
}
