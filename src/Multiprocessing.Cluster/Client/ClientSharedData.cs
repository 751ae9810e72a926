using System.IO.Hashing;
using Multiprocessing.Cluster.Node;
using Multiprocessing.Payload;
using Orleans.Serialization.Buffers;

namespace Multiprocessing.Cluster.Client;

/// <summary>
/// The read-only shared arrays this client has passed to cluster tasks. Each gets an id the nodes
/// key their copies by; a chunk whose frame holds an array's descriptor names that array, so the
/// node can put its own copy's descriptor in its place.
/// </summary>
internal sealed class ClientSharedData
{
    /// <summary>
    /// The piece of an array one grain call carries. Small, because what a transfer leaves in the
    /// node grows with the message size: with 4 MiB pieces a node kept, after a 1 GiB transfer,
    /// ~17 MB of Orleans' pooled 4 KiB network blocks, ~13 MB of 128 KiB buffer segments and a
    /// few piece-sized arrays in the runtime's ArrayPool (gcdump of the benchmark's nodes). With
    /// 64 KiB instead of 256 KiB the two nodes of the 1 GiB row kept 122 – 125 MiB instead of
    /// 122 – 141, copying 135 – 140 MB/s per node instead of 145 – 219 (docs/cluster.md, "What a node process costs").
    /// </summary>
    public const int PieceSize = 64 << 10;

    /// <summary>
    /// Pieces sent to one node before the first is acknowledged. What is in flight is what
    /// Orleans' network and buffer pools grow to hold, and they keep it after the transfer
    /// (gcdump: 128 KiB network slabs and 4 KiB buffer blocks). After 1 GiB to each of two nodes,
    /// a node's heap after its compacting collection was 16 – 32 MB with 16 pieces of 256 KiB in flight and
    /// 9 – 16 MB with 4 (6 MB before the transfer), at the same copy speed; with 64 KiB pieces,
    /// 2 in flight left as much as 4 and copied slower (docs/benchmarks/cluster.md).
    /// </summary>
    public const int PiecesInFlight = 4;

    private readonly Lock _gate = new();
    private readonly Dictionary<Guid, Entry> _byId = [];
    private readonly Dictionary<(ulong Device, ulong Inode), Entry> _bySegment = [];

    /// <summary>Records a read-only shared array found in a task's argument, at the call.</summary>
    public void Register(SharedObject array)
    {
        Multiprocessing.Sharing.SegmentDescriptor descriptor = array.Segment.Describe(writable: false);
        lock (_gate)
        {
            if (_bySegment.TryGetValue((descriptor.Device, descriptor.Inode), out Entry? known) && !known.Array.IsDisposed)
            {
                return;
            }
            var writer = new PayloadWriter(64);
            descriptor.Write(writer);
            byte[] bytes = writer.WrittenSpan.ToArray();
            var entry = new Entry(Guid.NewGuid(), array, descriptor.Size, bytes, NodeSharedData.Base64Form(bytes));
            if (known is not null)
            {
                _byId.Remove(known.Id);
            }
            _bySegment[(descriptor.Device, descriptor.Inode)] = entry;
            _byId[entry.Id] = entry;
        }
    }

    /// <summary>The arrays a chunk's frame names, or null for none (the usual case, which costs nothing when no array was registered).</summary>
    public SharedDataRef[]? Find(ReadOnlySpan<byte> frame)
    {
        List<SharedDataRef>? found = null;
        lock (_gate)
        {
            foreach (Entry entry in _byId.Values)
            {
                if (frame.IndexOf(entry.Descriptor) >= 0 || frame.IndexOf(entry.Base64) >= 0)
                {
                    (found ??= []).Add(new SharedDataRef { Id = entry.Id, Length = entry.Length, ClientDescriptor = entry.Descriptor });
                }
            }
        }
        return found?.ToArray();
    }

    public Entry Get(Guid id)
    {
        lock (_gate)
        {
            return _byId.TryGetValue(id, out Entry? entry)
                ? entry
                : throw new ObjectDisposedException("SharedArray", "The shared array passed to the task was disposed before it was sent to the node.");
        }
    }

    /// <summary>Forgets the arrays the caller disposed since the last look; their ids, for the nodes to drop their copies.</summary>
    public Guid[] TakeDisposed()
    {
        lock (_gate)
        {
            Entry[] gone = [.. _byId.Values.Where(e => e.Array.IsDisposed)];
            foreach (Entry entry in gone)
            {
                _byId.Remove(entry.Id);
                _bySegment.Remove(_bySegment.First(p => p.Value == entry).Key);
            }
            return [.. gone.Select(e => e.Id)];
        }
    }

    /// <summary>An array as registered: it keeps the caller's view alive, so its memory is there to send.</summary>
    internal sealed class Entry(Guid id, SharedObject array, long length, byte[] descriptor, byte[] base64)
    {
        public Guid Id { get; } = id;
        public SharedObject Array { get; } = array;
        public long Length { get; } = length;
        public byte[] Descriptor { get; } = descriptor;
        public byte[] Base64 { get; } = base64;

        /// <summary>
        /// The bytes at <paramref name="offset"/> in Orleans' pooled buffers (whose blocks are reused, so
        /// no new pages per piece), and their XxHash3; throws if the caller disposed the array (whose
        /// pages then read as zeros).
        /// </summary>
        public unsafe PooledBuffer Read(long offset, int count, out ulong checksum)
        {
            ObjectDisposedException.ThrowIf(Array.IsDisposed, Array);
            var bytes = new ReadOnlySpan<byte>(Array.Segment.Pointer + offset, count);
            checksum = XxHash3.HashToUInt64(bytes);
            var piece = new PooledBuffer();
            piece.Write(bytes);
            if (Array.IsDisposed)
            {
                piece.Dispose();
                throw new ObjectDisposedException(Array.GetType().Name);
            }
            return piece;
        }
    }
}
