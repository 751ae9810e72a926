using System.IO.Hashing;
using Multiprocessing.Payload;
using Orleans.Serialization.Buffers;

namespace Multiprocessing.Cluster.Node;

/// <summary>
/// The node's copies of its clients' read-only shared arrays: one segment per array per node,
/// which every worker of the node maps. A chunk arrives with the client's descriptor in its frame;
/// the node writes its own copy's descriptor over it, so the workers never see the client's.
/// </summary>
internal sealed class NodeSharedData : IDisposable
{
    private readonly Lock _gate = new();
    private readonly Dictionary<(Guid Client, Guid Id), Copy> _copies = [];
    private long _transfers;

    /// <summary>Arrays copied here since the node started.</summary>
    public long Transfers => Interlocked.Read(ref _transfers);

    /// <summary>Bytes held now.</summary>
    public long Bytes
    {
        get
        {
            lock (_gate)
            {
                return _copies.Values.Sum(c => c.Length);
            }
        }
    }

    public bool Begin(Guid client, Guid id, long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        lock (_gate)
        {
            if (_copies.TryGetValue((client, id), out Copy? copy))
            {
                if (copy.Complete && copy.Length == length)
                {
                    return true;
                }
                // A transfer that broke off (or a different length): start over.
                copy.Array.Dispose();
            }
            _copies[(client, id)] = new Copy(SharedArray<byte>.Create(length), length);
            return false;
        }
    }

    /// <summary>
    /// Checks one piece against the client's XxHash3 of it and writes it into the node's copy;
    /// false on a mismatch (nothing written), and the client sends that piece again. The piece's
    /// pooled buffers go back to their pool.
    /// </summary>
    public bool Write(Guid client, Guid id, long offset, SharedPiece piece, ulong checksum)
    {
        if (!piece.TryTake(out PooledBuffer data))
        {
            return false;
        }
        try
        {
            Copy copy = Find(client, id);
            int length = data.Length;
            if (offset < 0 || offset + length > copy.Length)
            {
                throw new ArgumentOutOfRangeException(nameof(offset), $"A piece at {offset} of {length} bytes does not fit a shared array of {copy.Length} bytes.");
            }
            var hash = new XxHash3();
            foreach (ReadOnlyMemory<byte> block in data.MemorySegments)
            {
                hash.Append(block.Span);
            }
            if (hash.GetCurrentHashAsUInt64() != checksum)
            {
                return false;
            }
            // Through the file, not the mapping: the node never touches the pages itself, so none of
            // them takes a page fault here (a trap per 4 KiB page cost more than the copy and the
            // network on a loaded virtual machine); the workers map them when they read.
            long at = offset;
            foreach (ReadOnlyMemory<byte> block in data.MemorySegments)
            {
                copy.Array.Segment.WriteAt(at, block.Span);
                at += block.Length;
            }
            lock (_gate)
            {
                if (copy.Verified.Add(offset))
                {
                    copy.VerifiedBytes += length;
                }
            }
            return true;
        }
        finally
        {
            data.Dispose();
        }
    }

    /// <summary>Makes the copy usable if every piece arrived and matched its checksum; false if some did not (the client starts over).</summary>
    public bool Commit(Guid client, Guid id)
    {
        Copy copy = Find(client, id);
        lock (_gate)
        {
            if (copy.VerifiedBytes != copy.Length)
            {
                return false;
            }
        }
        // The workers map it read-only: what they receive is the node copy's descriptor, not writable.
        var writer = new PayloadWriter(64);
        copy.Array.Segment.Describe(writable: false).Write(writer);
        copy.Descriptor = writer.WrittenSpan.ToArray();
        lock (_gate)
        {
            copy.Complete = true;
            // One entry per piece (16,384 for 1 GiB): needed only until the copy is whole.
            copy.Verified.Clear();
            copy.Verified.TrimExcess();
        }
        Interlocked.Increment(ref _transfers);
        return true;
    }

    /// <summary>Writes the node's descriptors over the client's in a chunk's frame (both are the same length); false if an array is not here.</summary>
    public bool Rewrite(Guid client, SharedDataRef[] references, byte[] frame, out string? missing)
    {
        foreach (SharedDataRef reference in references)
        {
            byte[]? local;
            lock (_gate)
            {
                local = _copies.TryGetValue((client, reference.Id), out Copy? copy) && copy.Complete ? copy.Descriptor : null;
            }
            if (local is null || local.Length != reference.ClientDescriptor.Length)
            {
                missing = $"the shared array {reference.Id} ({reference.Length} bytes) is not on this node";
                return false;
            }
            ReplaceAll(frame, reference.ClientDescriptor, local);
            // A shared array inside a JSON-encoded record travels as base64 of its codec output (a presence byte, then the descriptor).
            ReplaceAll(frame, Base64Form(reference.ClientDescriptor), Base64Form(local));
        }
        missing = null;
        return true;
    }

    /// <summary>How SharedObjectJsonConverterFactory writes an array whose descriptor is <paramref name="descriptor"/>.</summary>
    public static byte[] Base64Form(byte[] descriptor) =>
        System.Text.Encoding.ASCII.GetBytes(Convert.ToBase64String([1, .. descriptor]));

    private static void ReplaceAll(byte[] frame, byte[] from, byte[] to)
    {
        Span<byte> rest = frame;
        int at;
        while ((at = rest.IndexOf(from)) >= 0)
        {
            to.CopyTo(rest[at..]);
            rest = rest[(at + from.Length)..];
        }
    }

    public void Release(Guid client, Guid id)
    {
        lock (_gate)
        {
            if (_copies.Remove((client, id), out Copy? copy))
            {
                copy.Array.Dispose();
            }
        }
    }

    /// <summary>Drops every copy a client had here (it disconnected, or was not heard from).</summary>
    public void ReleaseClient(Guid client)
    {
        lock (_gate)
        {
            foreach ((Guid, Guid) key in _copies.Keys.Where(k => k.Client == client).ToArray())
            {
                _copies.Remove(key, out Copy? copy);
                copy!.Array.Dispose();
            }
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            foreach (Copy copy in _copies.Values)
            {
                copy.Array.Dispose();
            }
            _copies.Clear();
        }
    }

    private Copy Find(Guid client, Guid id)
    {
        lock (_gate)
        {
            return _copies.TryGetValue((client, id), out Copy? copy)
                ? copy
                : throw new InvalidOperationException($"No transfer of shared array {id} was begun on this node.");
        }
    }

    private sealed class Copy(SharedArray<byte> array, long length)
    {
        public SharedArray<byte> Array { get; } = array;
        public long Length { get; } = length;
        public bool Complete;
        public byte[] Descriptor = [];

        /// <summary>Offsets of the pieces written and checked (under the gate), and their bytes.</summary>
        public readonly HashSet<long> Verified = [];
        public long VerifiedBytes;
    }
}
