using System.Threading.Channels;

namespace Multiprocessing;

/// <summary>How a <see cref="SharedChannel{T}"/> is laid out and behaves when full.</summary>
/// <param name="capacity">The most messages it holds at once.</param>
public sealed record SharedChannelOptions(int capacity)
{
    /// <summary>The default <see cref="MaxMessageSize"/>: 64 KiB.</summary>
    public const int DefaultMaxMessageSize = 64 * 1024;

    /// <summary>The most messages the channel holds at once; a writer waits (or drops, see <see cref="FullMode"/>) beyond it.</summary>
    public int Capacity { get; init; } = capacity;

    /// <summary>
    /// What a write does when the channel is full: <see cref="BoundedChannelFullMode.Wait"/> (the default),
    /// <see cref="BoundedChannelFullMode.DropOldest"/> (discard the oldest message to make room) or
    /// <see cref="BoundedChannelFullMode.DropWrite"/> (discard the message being written).
    /// <see cref="BoundedChannelFullMode.DropNewest"/> is not supported: with writers in several
    /// processes there is no newest message that can be taken back safely.
    /// </summary>
    public BoundedChannelFullMode FullMode { get; init; } = BoundedChannelFullMode.Wait;

    /// <summary>
    /// The largest serialised message, in bytes. Each slot reserves this much address space, but the
    /// memory is sparse: a slot costs only the pages its messages touched. Larger messages are refused
    /// with an <see cref="ArgumentException"/>, never truncated.
    /// </summary>
    public int MaxMessageSize { get; init; } = DefaultMaxMessageSize;

    /// <summary>A hint that one reader at a time reads (accepted for API parity with System.Threading.Channels; the channel is safe either way).</summary>
    public bool SingleReader { get; init; }

    /// <summary>A hint that one writer at a time writes (accepted for API parity; the channel is safe either way).</summary>
    public bool SingleWriter { get; init; }

    internal void Validate()
    {
        if (Capacity is < 1 or > 1 << 24)
        {
            throw new ArgumentOutOfRangeException(nameof(Capacity), Capacity, "The capacity must be from 1 to 16,777,216 messages.");
        }
        if (MaxMessageSize is < 1 or > 1 << 30)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxMessageSize), MaxMessageSize, "The maximum message size must be from 1 byte to 1 GiB.");
        }
        if (FullMode == BoundedChannelFullMode.DropNewest)
        {
            throw new NotSupportedException(
                "BoundedChannelFullMode.DropNewest is not supported by a shared channel: with writers in several processes no message can be taken back safely. " +
                "Use DropOldest, DropWrite or Wait.");
        }
        if (!Enum.IsDefined(FullMode))
        {
            throw new ArgumentOutOfRangeException(nameof(FullMode), FullMode, "Not a BoundedChannelFullMode.");
        }
    }
}
