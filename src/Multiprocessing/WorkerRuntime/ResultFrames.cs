using System.Runtime.Serialization;
using Multiprocessing.Payload;
using Multiprocessing.Serialization;
using Multiprocessing.Wire;

namespace Multiprocessing.WorkerRuntime;

/// <summary>
/// The frames that carry the results of the unit a worker is running, written into its output. The
/// parent refuses a frame over the pool's MaxMessageSize as corrupt, so a unit's results are not one
/// frame of whatever size: when a result would push the open frame past the limit, the frame so far
/// is closed as a PartialResult frame and sent (the output is then empty, so the worker holds at most
/// about one frame of results), and the result starts the next frame. The unit ends with a Result
/// frame. A result that does not fit even in a frame of its own is taken out and reported as
/// <see cref="ErrorKind.ResultTooLarge"/>: the task fails, the worker lives.
/// </summary>
/// <param name="output">The worker's output buffer; while a unit runs only its executor writes it.</param>
/// <param name="send">Sends the whole frames in the output and empties it (the worker's flush).</param>
internal sealed class ResultFrames(PayloadWriter output, Action send)
{
    private long _sequence;
    private int _frame;
    private int _headerEnd;
    private int _count;

    /// <summary>Largest frame the parent accepts (the length after the prefix: type and body).</summary>
    public long MaxFrame { get; set; } = int.MaxValue;

    public PayloadWriter Output => output;

    /// <summary>Opens the Result frame of unit <paramref name="sequence"/>.</summary>
    public void Begin(long sequence)
    {
        _sequence = sequence;
        Open();
    }

    /// <summary>
    /// Takes the result just written from <paramref name="resultStart"/> to the output's position into the
    /// unit's frames, closing and sending the frame before it first when both do not fit in one.
    /// </summary>
    /// <returns>Null, or the error to report when the result alone is over the limit (it has been taken out again).</returns>
    public ResultTooLargeException? Add(int resultStart)
    {
        if (output.Position - _frame - sizeof(int) <= MaxFrame)
        {
            _count++;
            return null;
        }
        int size = output.Position - resultStart;
        if (_headerEnd - _frame - sizeof(int) + (long)size > MaxFrame)
        {
            output.Truncate(resultStart);
            return new ResultTooLargeException(size, MaxFrame);
        }
        // The result never shares the frame before it (_count >= 1 here: an empty frame holds any result that fits at all).
        byte[] result = output.Buffer.AsSpan(resultStart, size).ToArray();
        output.Truncate(resultStart);
        Close(FrameType.PartialResult, ResultStatus.Ok, 0, 0);
        send();
        Open();
        output.WriteBytes(result);
        _count = 1;
        return null;
    }

    /// <summary>Drops the results of the open frame, for an error record in their place.</summary>
    public void DiscardResults()
    {
        output.Truncate(_headerEnd);
        _count = 0;
    }

    /// <summary>Closes the unit's Result frame with its outcome.</summary>
    public void End(ResultStatus status, long elapsedTicks, long privateBytes) => Close(FrameType.Result, status, elapsedTicks, privateBytes);

    private void Open()
    {
        _frame = Protocol.BeginFrame(output, FrameType.Result);
        new ResultHeader(_sequence, ResultStatus.Ok, 0, 0, 0).Write(output);
        _headerEnd = output.Position;
        _count = 0;
    }

    private void Close(FrameType type, ResultStatus status, long elapsedTicks, long privateBytes)
    {
        output.Buffer[_frame + sizeof(int)] = (byte)type;
        new ResultHeader(_sequence, status, elapsedTicks, privateBytes, _count).WriteAt(output.Buffer, _frame + Protocol.HeaderSize);
        Protocol.EndFrame(output, _frame);
    }
}

/// <summary>A task's result is larger than a frame of the pool's MaxMessageSize can carry.</summary>
internal sealed class ResultTooLargeException(long size, long maxFrame)
    : SerializationException($"The result is {size:N0} bytes, over the MaxMessageSize of {maxFrame:N0} bytes.")
{
    public long Size { get; } = size;
}
