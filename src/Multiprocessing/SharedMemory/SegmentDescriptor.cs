using Multiprocessing.Interop;
using Multiprocessing.Payload;
using Multiprocessing.Serialization;

namespace Multiprocessing.Sharing;

/// <summary>
/// What crosses a process boundary in place of a shared object's data: which process holds the
/// segment and under which descriptor number, and the device and inode that prove, on arrival,
/// that the number still names the same segment. A few dozen bytes, whatever the segment's size.
/// </summary>
internal readonly record struct SegmentDescriptor(int OwnerPid, int Fd, ulong Device, ulong Inode, long Size, bool Writable)
{
    public string ProcPath => $"/proc/{OwnerPid}/fd/{Fd}";

    /// <summary>Whether <paramref name="file"/> is the segment this describes (a descriptor number can be reused).</summary>
    public bool Names(FileIdentity file) => file.Device == Device && file.Inode == Inode;

    public void Write(PayloadWriter writer)
    {
        writer.Write(OwnerPid);
        writer.Write(Fd);
        writer.Write(Device);
        writer.Write(Inode);
        writer.Write(Size);
        writer.Write(Writable ? (byte)1 : (byte)0);
    }

    public static SegmentDescriptor Read(ref PayloadReader reader)
    {
        int ownerPid = reader.Read<int>();
        int fd = reader.Read<int>();
        ulong device = reader.Read<ulong>();
        ulong inode = reader.Read<ulong>();
        long size = reader.Read<long>();
        byte writable = reader.Read<byte>();
        if (ownerPid <= 0 || fd < 0 || size < 0 || writable > 1)
        {
            throw new InvalidDataException("A shared object's descriptor in the message is malformed.");
        }
        return new SegmentDescriptor(ownerPid, fd, device, inode, size, writable == 1);
    }
}
