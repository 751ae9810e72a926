using System.Buffers;

namespace Multiprocessing.Sharing;

/// <summary>Exposes a range of a shared object's memory as <see cref="Memory{T}"/>; keeps the object reachable while the memory is.</summary>
internal sealed unsafe class SharedMemoryManager<T>(T* pointer, int length, SharedObject owner) : MemoryManager<T> where T : unmanaged
{
    public override Span<T> GetSpan()
    {
        if (owner.IsDisposed)
        {
            throw new ObjectDisposedException(owner.GetType().Name, "The shared object this memory belongs to was disposed.");
        }
        return new Span<T>(pointer, length);
    }

    // The memory is outside the GC heap, so it never moves: pinning is free.
    public override MemoryHandle Pin(int elementIndex = 0) => new(pointer + elementIndex, pinnable: this);

    public override void Unpin()
    {
    }

    protected override void Dispose(bool disposing)
    {
    }
}
