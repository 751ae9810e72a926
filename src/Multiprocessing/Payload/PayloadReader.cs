using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Multiprocessing.Payload;

/// <summary>Reads what <see cref="PayloadWriter"/> wrote. Every read is bounds-checked: a corrupt payload throws, it never reads past the frame.</summary>
internal ref struct PayloadReader
{
    private readonly ReadOnlySpan<byte> _data;
    private int _position;

    public PayloadReader(ReadOnlySpan<byte> data)
    {
        _data = data;
        _position = 0;
    }

    public readonly int Remaining => _data.Length - _position;

    public readonly int Position => _position;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public T Read<T>() where T : unmanaged => ReadRaw<T>();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public T ReadRaw<T>()
    {
        int size = Unsafe.SizeOf<T>();
        if (_data.Length - _position < size)
        {
            ThrowTruncated(size);
        }
        T value = Unsafe.ReadUnaligned<T>(ref Unsafe.AsRef(in _data[_position]));
        _position += size;
        return value;
    }

    public ReadOnlySpan<byte> ReadBytes(int count)
    {
        if (count < 0 || _data.Length - _position < count)
        {
            ThrowTruncated(count);
        }
        ReadOnlySpan<byte> slice = _data.Slice(_position, count);
        _position += count;
        return slice;
    }

    public string? ReadString()
    {
        int length = Read<int>();
        if (length < 0)
        {
            return null;
        }
        if (length > (_data.Length - _position) / 2)
        {
            ThrowTruncated(length * 2);
        }
        return new string(MemoryMarshal.Cast<byte, char>(ReadBytes(length * sizeof(char))));
    }

    public string ReadRequiredString() => ReadString() ?? throw new InvalidDataException("A required string field is missing from the message.");

    private readonly void ThrowTruncated(int wanted) =>
        throw new InvalidDataException($"The message is truncated or corrupt: {wanted} more bytes were expected at offset {_position}, {Remaining} remain.");
}
