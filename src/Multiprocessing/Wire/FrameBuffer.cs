using Multiprocessing.Interop;

namespace Multiprocessing.Wire;

/// <summary>
/// Receives bytes from a control socket and cuts them into frames: one receive may hold many
/// frames or part of one. A length outside 1..max is refused as corrupt before anything is
/// allocated for it. A frame larger than the buffer grows it as its bytes arrive, doubling when
/// full up to the frame's length: a length prefix that is plausible but false (a gigabyte, then
/// nothing) costs what actually arrived, not what it claims. Used by both ends of the channel.
/// </summary>
internal sealed class FrameBuffer(long maxFrame)
{
    /// <summary>Largest frame accepted; the worker learns the pool's limit from its Init frame.</summary>
    public long MaxFrame { get; set; } = maxFrame;

    private const int InitialSize = 64 * 1024;
    private const int ShrinkAbove = 4 * 1024 * 1024;

    private byte[] _buffer = new byte[InitialSize];
    private int _start;
    private int _end;

    /// <summary>Bytes received that are not yet a whole frame: 0 when every frame received was complete.</summary>
    public int Pending => _end - _start;

    /// <summary>The length (type and body) the incomplete frame declares, or 0 while its length has not arrived.</summary>
    public int PendingLength => _end - _start >= sizeof(int) ? BitConverter.ToInt32(_buffer, _start) : 0;

    /// <summary>Receives once; false at end of stream or when the socket is closed.</summary>
    public bool Receive(SafeUnixSocket socket)
    {
        Compact();
        if (_end == _buffer.Length)
        {
            Grow();
        }
        int received;
        try
        {
            received = Libc.Receive(socket, _buffer.AsSpan(_end));
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            return false;
        }
        _end += received;
        return received > 0;
    }

    /// <summary>The next complete frame, if one is buffered. The body is valid until the next call.</summary>
    /// <exception cref="InvalidDataException">The frame's length is outside 1..max.</exception>
    public bool TryNext(out FrameType type, out ReadOnlySpan<byte> body)
    {
        type = default;
        body = default;
        if (_end - _start < Protocol.HeaderSize)
        {
            return false;
        }
        int length = BitConverter.ToInt32(_buffer, _start);
        if (length < 1 || length > MaxFrame)
        {
            throw new InvalidDataException($"a frame of {length:N0} bytes arrived, outside the allowed 1..{MaxFrame:N0}");
        }
        int total = length + sizeof(int);
        if (_end - _start < total)
        {
            return false;
        }
        type = (FrameType)_buffer[_start + sizeof(int)];
        body = _buffer.AsSpan(_start + Protocol.HeaderSize, length - 1);
        _start += total;
        return true;
    }

    /// <summary>The buffer is full of one incomplete frame (Compact moved it to the start): doubles it, up to what that frame needs.</summary>
    private void Grow()
    {
        // TryNext has checked the length against MaxFrame whenever a whole length prefix is here.
        long needed = PendingLength > 0 ? (long)PendingLength + sizeof(int) : _buffer.Length + 1;
        long size = Math.Min(Math.Max(needed, _buffer.Length + 1), Math.Min((long)_buffer.Length * 2, Array.MaxLength));
        byte[] larger = new byte[size];
        Buffer.BlockCopy(_buffer, _start, larger, 0, _end - _start);
        _buffer = larger;
        _end -= _start;
        _start = 0;
    }

    private void Compact()
    {
        if (_start == _end)
        {
            _start = _end = 0;
            if (_buffer.Length > ShrinkAbove)
            {
                // One large message must not pin its size in an idle process for good.
                _buffer = new byte[InitialSize];
            }
        }
        else if (_start > 0 && _buffer.Length - _end < 4096)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }
    }
}
