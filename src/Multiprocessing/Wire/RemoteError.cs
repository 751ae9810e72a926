using Multiprocessing.Payload;
using Multiprocessing.Serialization;

namespace Multiprocessing.Wire;

/// <summary>
/// An error reported by a worker, as read from a frame (<see cref="Protocol.WriteError"/> writes it);
/// <c>Size</c> is the result's size for <see cref="ErrorKind.ResultTooLarge"/>. What the caller sees
/// for it is decided on the parent's side (<c>Worker/RemoteErrors.cs</c>).
/// </summary>
internal readonly record struct RemoteError(ErrorKind Kind, int ItemIndex, string TypeName, string Message, string Details, long Size = 0)
{
    public static RemoteError Read(ref PayloadReader reader)
    {
        var kind = (ErrorKind)reader.Read<byte>();
        int item = reader.Read<int>();
        string type = reader.ReadString() ?? "System.Exception";
        string message = reader.ReadString() ?? "";
        string details = reader.ReadString() ?? "";
        return new(kind, item, type, message, details, kind == ErrorKind.ResultTooLarge ? reader.Read<long>() : 0);
    }
}
