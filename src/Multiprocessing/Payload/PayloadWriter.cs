using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Multiprocessing.Payload;

/// <summary>
/// A growable byte buffer that frames and payloads are written into. It is also an
/// <see cref="IBufferWriter{T}"/>, so System.Text.Json and user serializers write into it directly.
/// </summary>
internal sealed class PayloadWriter : IBufferWriter<byte>
{
    private byte[] _buffer;
    private int _position;

    public PayloadWriter(int initialCapacity = 256) => _buffer = new byte[Math.Max(16, initialCapacity)];

    public int Position => _position;

    public ReadOnlySpan<byte> WrittenSpan => _buffer.AsSpan(0, _position);

    public ReadOnlyMemory<byte> WrittenMemory => _buffer.AsMemory(0, _position);

    public byte[] Buffer => _buffer;

    public void Reset() => _position = 0;

    /// <summary>Forgets everything written after <paramref name="position"/> (used to undo a half-written frame).</summary>
    public void Truncate(int position) => _position = position;

    public byte[] ToArray() => WrittenSpan.ToArray();

    /// <summary>Keeps a large buffer from living on after one huge message.</summary>
    public void ShrinkIfLarger(int limit)
    {
        if (_buffer.Length > limit && _position == 0)
        {
            _buffer = new byte[limit];
        }
    }

    public void Advance(int count) => _position += count;

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Ensure(Math.Max(sizeHint, 1));
        return _buffer.AsMemory(_position);
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Ensure(Math.Max(sizeHint, 1));
        return _buffer.AsSpan(_position);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write<T>(T value) where T : unmanaged
    {
        Ensure(Unsafe.SizeOf<T>());
        Unsafe.WriteUnaligned(ref _buffer[_position], value);
        _position += Unsafe.SizeOf<T>();
    }

    /// <summary>Writes a value of any type that holds no references (also through a generic <typeparamref name="T"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void WriteRaw<T>(in T value)
    {
        int size = Unsafe.SizeOf<T>();
        Ensure(size);
        Unsafe.WriteUnaligned(ref _buffer[_position], value);
        _position += size;
    }

    public void WriteBytes(ReadOnlySpan<byte> bytes)
    {
        Ensure(bytes.Length);
        bytes.CopyTo(_buffer.AsSpan(_position));
        _position += bytes.Length;
    }

    /// <summary>Reserves an int32 to be filled later by <see cref="PatchInt32"/>; returns its position.</summary>
    public int ReserveInt32()
    {
        int at = _position;
        Write(0);
        return at;
    }

    public void PatchInt32(int at, int value) => Unsafe.WriteUnaligned(ref _buffer[at], value);

    public void WriteString(string? value)
    {
        if (value is null)
        {
            Write(-1);
            return;
        }
        Write(value.Length);
        WriteBytes(MemoryMarshal.AsBytes(value.AsSpan()));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Ensure(int count)
    {
        if (_buffer.Length - _position < count)
        {
            Grow(count);
        }
    }

    private void Grow(int count)
    {
        long needed = (long)_position + count;
        long size = Math.Max(needed, (long)_buffer.Length * 2);
        if (size > Array.MaxLength)
        {
            size = needed <= Array.MaxLength
                ? Array.MaxLength
                : throw new InsufficientMemoryException($"A message would need {needed:N0} bytes, more than one .NET buffer can hold ({Array.MaxLength:N0}). Keep large data out of the message: pass a file path, or split it into smaller items.");
        }
        Array.Resize(ref _buffer, (int)size);
    }
}
