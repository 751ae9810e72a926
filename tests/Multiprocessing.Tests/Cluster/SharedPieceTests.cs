using Microsoft.Extensions.DependencyInjection;
using Multiprocessing.Cluster;
using Multiprocessing.Cluster.Node;
using Orleans.Serialization;
using Orleans.Serialization.Buffers;

namespace Multiprocessing.Tests.Cluster;

/// <summary>
/// A shared array's piece has one owner for its pooled blocks: Orleans' codec when the call's message
/// is serialized, the sender's Release when it never is. Checked with Orleans' own serializer; whether
/// the blocks then reach Orleans' pool is not visible from outside Orleans.
/// </summary>
public sealed class SharedPieceTests
{
    private static readonly Serializer<SharedPiece> Serializer = new ServiceCollection()
        .AddSerializer(b => b.AddAssembly(typeof(ClusterPool).Assembly))
        .BuildServiceProvider()
        .GetRequiredService<Serializer<SharedPiece>>();

    private static SharedPiece Piece(byte[] bytes)
    {
        var blocks = new PooledBuffer();
        blocks.Write(bytes);
        return new SharedPiece(blocks);
    }

    private static byte[] Bytes(int count)
    {
        var bytes = new byte[count];
        new Random(count).NextBytes(bytes);
        return bytes;
    }

    [Fact]
    public void Serialized_TheCodecTakesTheBlocks_TheSendersReleaseReturnsNothing()
    {
        byte[] bytes = Bytes(100_000);
        SharedPiece piece = Piece(bytes);
        byte[] wire = Serializer.SerializeToArray(piece);
        Assert.True(piece.Taken);
        // What the sender does after every call: here a no-op, the codec returned them.
        piece.Release();

        SharedPiece arrived = Serializer.Deserialize(wire);
        Assert.True(arrived.TryTake(out PooledBuffer blocks));
        Assert.Equal(bytes, blocks.ToArray());
        blocks.Dispose();
        Assert.False(arrived.TryTake(out _));
    }

    [Fact]
    public void NeverSerialized_TheSendersReleaseTakesTheBlocks_ALateSerializationWritesNothing()
    {
        SharedPiece piece = Piece(Bytes(10_000));
        // The call failed before its message was serialized: the sender's release returns the blocks.
        piece.Release();
        Assert.True(piece.Taken);
        // Serialized after all (or a second time): nothing of the returned blocks is read; the node
        // gets an empty piece, which its checksum refuses.
        SharedPiece arrived = Serializer.Deserialize(Serializer.SerializeToArray(piece));
        Assert.True(arrived.TryTake(out PooledBuffer blocks));
        Assert.Equal(0, blocks.Length);
        blocks.Dispose();
    }

    [Fact]
    public void ReleasedTwice_TakenOnce()
    {
        SharedPiece piece = Piece(Bytes(100));
        Assert.True(piece.TryTake(out PooledBuffer blocks));
        piece.Release();
        Assert.False(piece.TryTake(out _));
        blocks.Dispose();
    }
}
