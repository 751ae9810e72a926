using System.Buffers;
using Orleans.Serialization.Buffers;
using Orleans.Serialization.Codecs;
using Orleans.Serialization.Cloning;
using Orleans.Serialization.Serializers;
using Orleans.Serialization.WireProtocol;

namespace Multiprocessing.Cluster.Node;

/// <summary>
/// One piece of a shared array on its way to a node: Orleans' pooled blocks (<see cref="PooledBuffer"/>)
/// with exactly one owner at a time, who returns them to their pool.
/// </summary>
/// <remarks>
/// A bare <see cref="PooledBuffer"/> argument is returned to its pool by Orleans' codec when the
/// message is serialized, and by nobody when it never is: a call that fails first (its connection
/// closed with the message still queued, the client stopping) kept its blocks out of the pool.
/// The sender cannot dispose its own copy after the call either, since a serialized piece's blocks
/// are already back in the pool (returned twice, they would be handed out twice). Here the codec and
/// the sender's <see cref="Release"/> race for the blocks through one flag: whoever takes them returns
/// them, once. A piece serialized after its sender released it (or serialized twice) is written
/// empty, which the node refuses by its checksum.
/// </remarks>
[Immutable]
internal readonly struct SharedPiece
{
    private readonly Holder? _holder;

    public SharedPiece(PooledBuffer blocks) => _holder = new Holder(blocks);

    /// <summary>Whether someone (the codec, or <see cref="Release"/>) has taken the blocks.</summary>
    public bool Taken => _holder is null || Volatile.Read(ref _holder.Taken) != 0;

    /// <summary>Takes the blocks if nobody has: the taker returns them to their pool (<see cref="PooledBuffer.Dispose"/>).</summary>
    public bool TryTake(out PooledBuffer blocks)
    {
        if (_holder is not null && Interlocked.Exchange(ref _holder.Taken, 1) == 0)
        {
            blocks = _holder.Blocks;
            return true;
        }
        blocks = default;
        return false;
    }

    /// <summary>Returns the blocks to their pool unless the codec (or an earlier release) took them.</summary>
    public void Release()
    {
        if (TryTake(out PooledBuffer blocks))
        {
            blocks.Dispose();
        }
    }

    private sealed class Holder(PooledBuffer blocks)
    {
        public readonly PooledBuffer Blocks = blocks;
        public int Taken;
    }
}

/// <summary>Writes a <see cref="SharedPiece"/> as <see cref="PooledBufferCodec"/> writes a <see cref="PooledBuffer"/>, taking its blocks; reads it into new pooled blocks.</summary>
[RegisterSerializer]
internal sealed class SharedPieceCodec : IFieldCodec<SharedPiece>
{
    private const int MaxSpanLength = 4096;

    public void WriteField<TBufferWriter>(ref Writer<TBufferWriter> writer, uint fieldIdDelta, Type? expectedType, SharedPiece value) where TBufferWriter : IBufferWriter<byte>
    {
        ReferenceCodec.MarkValueField(writer.Session);
        writer.WriteFieldHeader(fieldIdDelta, expectedType, typeof(SharedPiece), WireType.LengthPrefixed);
        if (!value.TryTake(out PooledBuffer blocks))
        {
            writer.WriteVarUInt32(0);
            return;
        }
        try
        {
            writer.WriteVarUInt32((uint)blocks.Length);
            foreach (ReadOnlySpan<byte> segment in blocks.GetEnumerator())
            {
                writer.Write(segment);
            }
        }
        finally
        {
            blocks.Dispose();
        }
    }

    public SharedPiece ReadValue<TInput>(ref Reader<TInput> reader, Field field)
    {
        ReferenceCodec.MarkValueField(reader.Session);
        field.EnsureWireType(WireType.LengthPrefixed);
        var blocks = new PooledBuffer();
        try
        {
            int length = (int)reader.ReadVarUInt32();
            while (length > 0)
            {
                int copied = Math.Min(length, MaxSpanLength);
                Span<byte> span = blocks.GetSpan(copied)[..copied];
                reader.ReadBytes(span);
                blocks.Advance(copied);
                length -= copied;
            }
        }
        catch
        {
            blocks.Dispose();
            throw;
        }
        return new SharedPiece(blocks);
    }
}

/// <summary>A piece is not copied (calls to a node always cross a connection): the one instance keeps the one owner.</summary>
[RegisterCopier]
internal sealed class SharedPieceCopier : IDeepCopier<SharedPiece>, IOptionalDeepCopier
{
    public SharedPiece DeepCopy(SharedPiece input, CopyContext context) => input;

    public bool IsShallowCopyable() => true;
}
