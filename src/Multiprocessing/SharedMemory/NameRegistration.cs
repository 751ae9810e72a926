using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;
using Multiprocessing.Interop;
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
            string holder = TryFindHolder(name) is { } pid ? $"process {pid}" : "another process";
            throw new SharedMemoryException(
                $"A shared segment named '{name}' already exists: {holder} holds it. Names are unique per user while their creator holds them; " +
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
        // struct ucred { pid_t pid; uid_t uid; gid_t gid; }: SOL_SOCKET = 1, SO_PEERCRED = 17.
        Span<byte> credentials = stackalloc byte[12];
        int length = socket.GetRawSocketOption(1, 17, credentials);
        uint uid = length == 12 ? BinaryPrimitives.ReadUInt32LittleEndian(credentials[4..]) : uint.MaxValue;
        if (uid != Libc.EffectiveUserId)
        {
            int pid = BinaryPrimitives.ReadInt32LittleEndian(credentials);
            throw new SharedMemoryException(
                $"The name '{name}' is held by process {pid} of another user (uid {uid}); shared segments are shared only between processes of the same user.");
        }
    }

    private static int? TryFindHolder(string name)
    {
        try
        {
            using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            socket.Connect(EndPoint(name));
            Span<byte> credentials = stackalloc byte[12];
            return socket.GetRawSocketOption(1, 17, credentials) == 12 ? BinaryPrimitives.ReadInt32LittleEndian(credentials) : null;
        }
        catch (SocketException)
        {
            return null;
        }
    }

    private static UnixDomainSocketEndPoint EndPoint(string name) =>
        // A leading NUL puts the socket in the abstract namespace; the user id keeps users apart.
        new($"\0multiprocessing-dotnet/{Libc.EffectiveUserId}/{name}");

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
