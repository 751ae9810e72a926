using System.Diagnostics;
using Multiprocessing.Interop;
using Multiprocessing.Payload;
using Multiprocessing.Wire;

namespace Multiprocessing.WorkerRuntime;

/// <summary>
/// Everything a worker sends its parent goes through one output buffer and one send lock, here.
/// Results of finished units are made safe before the next unit starts: if that unit kills the
/// process, the parent must still get them, and must not mistake a finished task for the one that
/// was running.
/// </summary>
/// <remarks>
/// Sending them does that at one system call per unit, most of a tiny unit's cost; so after a unit
/// that took less than <see cref="s_batchBelow"/> they are copied into the journal in the status
/// page instead (which the parent reads if this process dies) and sent together: when the queue
/// runs dry, when the journal or the buffer fills, or, by the flush thread, at most about a
/// millisecond after the first of them finished, so that no result waits long behind a slow unit.
/// </remarks>
internal sealed class ResultSender
{
    /// <summary>Set to 1 in a worker's environment (tests only) to batch the results of every unit, however long it took.</summary>
    public const string BatchAlwaysVariable = "MP_WORKER_BATCH_ALWAYS";

    private static readonly long s_batchBelow = Environment.GetEnvironmentVariable(BatchAlwaysVariable) == "1"
        ? long.MaxValue // tests: every unit's results go through the journal
        : Stopwatch.Frequency / 20_000; // units under 50 µs
    private static readonly long s_batchFor = Stopwatch.Frequency / 1000;     // a result waits about 1 ms at most
    private const int MaxBatchedOutput = 256 * 1024;

    private readonly SafeUnixSocket _socket;
    private readonly Lock _sendLock = new();
    private readonly PayloadWriter _output = new(64 * 1024);
    private readonly ResultFrames _results;
    private readonly object _flushGate = new();

    // All under _sendLock: _output holds frames [0, _sent) that were sent, [_sent, _journaled) that
    // are in the journal and not sent, and then the rest.
    private int _sent;
    private int _journaled;
    private long _batchStarted;
    private long _lastUnitTicks = long.MaxValue;
    private bool _flushThreadStarted;

    public ResultSender(SafeUnixSocket socket)
    {
        _socket = socket;
        _results = new ResultFrames(_output, Flush);
    }

    /// <summary>The status page, whose journal holds batched results; null until the Init frame arrives, and until then nothing is batched.</summary>
    public WorkerStatus? Status { get; set; }

    /// <summary>Largest frame the parent accepts; the Init frame says it.</summary>
    public long MaxFrame
    {
        get => _results.MaxFrame;
        set => _results.MaxFrame = value;
    }

    /// <summary>Opens unit <paramref name="sequence"/>'s results. Until <see cref="EndUnit"/> only the executor writes them, without the lock.</summary>
    public ResultFrames BeginUnit(long sequence)
    {
        lock (_sendLock)
        {
            _results.Begin(sequence);
        }
        return _results;
    }

    /// <summary>Closes the unit's Result frame: its results, or, when it failed, the error in their place.</summary>
    /// <param name="failure">Why the unit failed, or null.</param>
    /// <param name="cancelled">The failure is the unit's own cancellation.</param>
    /// <param name="started">When the unit started (<see cref="Stopwatch.GetTimestamp"/>).</param>
    /// <param name="reportMemory">Whether the pool asked for this process's private memory after each unit.</param>
    public void EndUnit((ErrorKind Kind, int Item, Exception Error)? failure, bool cancelled, long started, bool reportMemory)
    {
        lock (_sendLock)
        {
            ResultStatus outcome = ResultStatus.Ok;
            if (failure is { } f)
            {
                _results.DiscardResults();
                outcome = cancelled ? ResultStatus.Cancelled : ResultStatus.Error;
                Protocol.WriteError(_output, f.Kind, f.Item, f.Error, MaxFrame, (f.Error as ResultTooLargeException)?.Size ?? 0);
            }
            _lastUnitTicks = Stopwatch.GetTimestamp() - started;
            _results.End(outcome, _lastUnitTicks, reportMemory ? ProcFs.PrivateResidentBytes() : 0L);
        }
    }

    /// <summary>Writes the Result frame of a unit that was cancelled before it started.</summary>
    public void WriteCancelled(long sequence)
    {
        lock (_sendLock)
        {
            int frame = Protocol.BeginFrame(_output, FrameType.Result);
            new ResultHeader(sequence, ResultStatus.Cancelled, 0, 0, 0).Write(_output);
            Protocol.EndFrame(_output, frame);
        }
    }

    /// <summary>Makes the results written so far safe before the next unit runs: journals them after a tiny unit, sends them otherwise.</summary>
    public void Secure()
    {
        WorkerStatus? status = Status;
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
        Flush();
    }

    /// <summary>Sends everything written and not sent yet; exits the process if the parent is gone.</summary>
    public void Flush()
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
            Status?.ResetJournal();
            _sent = 0;
            _journaled = 0;
            _batchStarted = 0;
            _output.Reset();
            _output.ShrinkIfLarger(1024 * 1024);
        }
    }

    /// <summary>Sends <paramref name="frame"/> now, after whatever was written before it.</summary>
    public void Send(byte[] frame)
    {
        lock (_sendLock)
        {
            _output.WriteBytes(frame);
        }
        Flush();
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
                if (_batchStarted != 0 && Stopwatch.GetTimestamp() - _batchStarted >= s_batchFor && Status is { } status)
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
}
