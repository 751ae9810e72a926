using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;
using Multiprocessing.Interop;
using Multiprocessing.Payload;
using Multiprocessing.Serialization;

namespace Multiprocessing.Sharing;

/// <summary>
/// A name by which unrelated programs of the same user find a segment, like Python's
/// <c>SharedMemory(name=…)</c>, without a file that could outlive its creator. The creator binds a
/// listening Unix socket in the abstract namespace (no file anywhere; the kernel drops the name when
/// the socket closes, including on SIGKILL) and answers each connection with the segment's
/// descriptor. So a name lives exactly as long as the creating object, and a killed creator leaves
/// nothing behind to reclaim.
/// </summary>
/// <remarks>
/// The abstract namespace has no permissions. The socket name carries the effective uid, so users'
/// names do not collide, and both sides check the kernel's record of the peer (SO_PEERCRED): the
/// creator answers only processes of its own uid, and an opener trusts only a holder of its own uid.
/// Another user can still bind one of this user's names first; claiming it then fails with a message
/// that says so (the squatter gains nothing: it is never answered with, nor handed, the memory).
/// </remarks>
internal sealed class NameRegistration : IDisposable
{
    public const int MaxNameLength = 64;
    private const int MaxReply = 4096;

    private readonly Socket _listener;

    private NameRegistration(string name, Socket listener)
    {
        Name = name;
        _listener = listener;
    }

    public string Name { get; }

    /// <summary>Takes <paramref name="name"/> for this process, or explains who holds it.</summary>
    public static NameRegistration Claim(string name)
    {
        Validate(name);
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            listener.Bind(EndPoint(name));
            listener.Listen(128);
            return new NameRegistration(name, listener);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            listener.Dispose();
            Credentials? holder = TryFindHolder(name);
            if (holder is { } other && other.Uid != Libc.EffectiveUserId)
            {
                // The abstract namespace has no permissions: the uid in the socket name keeps users'
                // names apart only while everyone plays fair. Say what happened instead of "exists".
                throw new SharedMemoryException(
                    $"The name '{name}' cannot be claimed: process {other.Pid} of another user (uid {other.Uid}) has taken this user's " +
                    $"socket name for it (names live in the abstract Unix-socket namespace, where any local user can bind any name). " +
                    "That process cannot open this user's memory through it. Choose another name, e.g. one with a random part.", e);
            }
            string who = holder is { } same ? $"process {same.Pid}" : "another process";
            throw new SharedMemoryException(
                $"A shared segment named '{name}' already exists: {who} holds it. Names are unique per user while their creator holds them; " +
                "open it with Open(name), or choose another name.", e);
        }
        catch
        {
            listener.Dispose();
            throw;
        }
    }

    /// <summary>Answers every program that opens the name with the segment's descriptor and contents tag.</summary>
    public void Serve(SharedSegment segment, string contents)
    {
        var reply = new PayloadWriter(128);
        segment.Describe(writable: true).Write(reply);
        reply.WriteString(contents);
        byte[] bytes = reply.WrittenSpan.ToArray();
        _ = Task.Run(() => AnswerAsync(bytes));
    }

    private async Task AnswerAsync(byte[] reply)
    {
        while (true)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is ObjectDisposedException or SocketException)
            {
                return; // the name was released
            }
            using (client)
            {
                // Only processes of this user get the descriptor: another user could not open
                // /proc/PID/fd/N anyway, and should not learn this process's descriptors and inodes.
                if (PeerOf(client) is not { } peer || peer.Uid != Libc.EffectiveUserId)
                {
                    continue;
                }
                try
                {
                    client.Send(reply);
                }
                catch (SocketException)
                {
                    // The opener gave up; it will report that itself.
                }
            }
        }
    }

    /// <summary>Finds the descriptor of the segment named <paramref name="name"/> that a live process of this user holds.</summary>
    public static SegmentDescriptor Resolve(string name, out string contents)
    {
        Validate(name);
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            socket.Connect(EndPoint(name));
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionRefused or SocketError.AddressNotAvailable or SocketError.NotConnected or SocketError.AddressFamilyNotSupported)
        {
            throw new SharedMemoryException(
                $"No shared segment named '{name}' exists. A named segment lives as long as the object that created it " +
                "(until it is disposed or its process exits); create it first, and keep it alive while others open it.", e);
        }
        EnsureSameUser(socket, name);
        socket.ReceiveTimeout = 10_000;
        byte[] buffer = new byte[MaxReply];
        int length = 0;
        while (length < buffer.Length)
        {
            int read = socket.Receive(buffer, length, buffer.Length - length, SocketFlags.None);
            if (read == 0)
            {
                break;
            }
            length += read;
        }
        var reader = new PayloadReader(buffer.AsSpan(0, length));
        try
        {
            SegmentDescriptor descriptor = SegmentDescriptor.Read(ref reader);
            contents = reader.ReadRequiredString();
            return descriptor;
        }
        catch (InvalidDataException e)
        {
            throw new SharedMemoryException($"The process that holds the name '{name}' answered with something other than a shared segment.", e);
        }
    }

    private static void EnsureSameUser(Socket socket, string name)
    {
        Credentials? peer = PeerOf(socket);
        if (peer?.Uid != Libc.EffectiveUserId)
        {
            throw new SharedMemoryException(
                $"The name '{name}' is held by process {peer?.Pid} of another user (uid {peer?.Uid}), not by a process of this user (uid {Libc.EffectiveUserId}): " +
                "another user has taken this user's socket name for it (any local user can bind any name in the abstract Unix-socket namespace). " +
                "Shared segments are shared only between processes of the same user; choose another name.");
        }
    }

    /// <summary>The process and user at the other end of a connected Unix socket, as the kernel recorded them (SO_PEERCRED); null if unknown.</summary>
    internal static Credentials? PeerOf(Socket socket)
    {
        // struct ucred { pid_t pid; uid_t uid; gid_t gid; }: SOL_SOCKET = 1, SO_PEERCRED = 17.
        Span<byte> credentials = stackalloc byte[12];
        try
        {
            return socket.GetRawSocketOption(1, 17, credentials) == 12
                ? new Credentials(BinaryPrimitives.ReadInt32LittleEndian(credentials), BinaryPrimitives.ReadUInt32LittleEndian(credentials[4..]))
                : null;
        }
        catch (SocketException)
        {
            return null;
        }
    }

    private static Credentials? TryFindHolder(string name)
    {
        try
        {
            using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            socket.Connect(EndPoint(name));
            return PeerOf(socket);
        }
        catch (SocketException)
        {
            return null;
        }
    }

    /// <summary>The abstract socket name (after its leading NUL) that stands for <paramref name="name"/> of this user.</summary>
    internal static string SocketName(string name) => $"multiprocessing-dotnet/{Libc.EffectiveUserId}/{name}";

    private static UnixDomainSocketEndPoint EndPoint(string name) =>
        // A leading NUL puts the socket in the abstract namespace, which has no permissions: the
        // user id keeps users' names apart, and the peer checks (EnsureSameUser, the answering
        // loop) keep another user who binds one of them from being trusted or answered.
        new($"\0{SocketName(name)}");

    /// <summary>A socket peer: its process and effective user.</summary>
    internal readonly record struct Credentials(int Pid, uint Uid);

    private static void Validate(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (name.Length > MaxNameLength || Encoding.UTF8.GetByteCount(name) > MaxNameLength
            || name.Any(c => char.IsControl(c) || c == '/'))
        {
            throw new ArgumentException(
                $"'{name}' is not a valid shared segment name: use at most {MaxNameLength} characters, without '/' or control characters.", nameof(name));
        }
    }

    public void Dispose() => _listener.Dispose();
}
