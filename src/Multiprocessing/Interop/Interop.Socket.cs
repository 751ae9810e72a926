using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace Multiprocessing.Interop;

// Blocking Unix stream sockets for the control channel, called straight through libc instead of
// System.Net.Sockets. Why: a worker is a fresh process whose first task waits on its connect, and
// System.Net.Sockets' first use (its types, endpoint and address machinery) costs 13 – 17 ms there,
// against about 1 ms for these calls; the parent's first pool paid it too.
internal static partial class Libc
{
    private const int AF_UNIX = 1;
    private const int SOCK_STREAM = 1;
    private const int SOCK_CLOEXEC = 0x80000;
    private const int SOL_SOCKET = 1;
    private const int SO_RCVTIMEO = 20;
    private const int MSG_NOSIGNAL = 0x4000;
    private const int SHUT_RDWR = 2;
    private const int SunPathLength = 108;

    [LibraryImport(LibraryName, EntryPoint = "socket", SetLastError = true)]
    private static partial int SocketNative(int domain, int type, int protocol);

    [LibraryImport(LibraryName, EntryPoint = "connect", SetLastError = true)]
    private static unsafe partial int ConnectNative(SafeUnixSocket socket, byte* address, int length);

    [LibraryImport(LibraryName, EntryPoint = "bind", SetLastError = true)]
    private static unsafe partial int BindNative(SafeUnixSocket socket, byte* address, int length);

    [LibraryImport(LibraryName, EntryPoint = "listen", SetLastError = true)]
    private static partial int ListenNative(SafeUnixSocket socket, int backlog);

    [LibraryImport(LibraryName, EntryPoint = "accept4", SetLastError = true)]
    private static partial int AcceptNative(SafeUnixSocket socket, nint address, nint length, int flags);

    [LibraryImport(LibraryName, EntryPoint = "send", SetLastError = true)]
    private static unsafe partial nint SendNative(SafeUnixSocket socket, byte* buffer, nint length, int flags);

    [LibraryImport(LibraryName, EntryPoint = "recv", SetLastError = true)]
    private static unsafe partial nint ReceiveNative(SafeUnixSocket socket, byte* buffer, nint length, int flags);

    [LibraryImport(LibraryName, EntryPoint = "setsockopt", SetLastError = true)]
    private static unsafe partial int SetSocketOptionNative(SafeUnixSocket socket, int level, int name, void* value, int length);

    [LibraryImport(LibraryName, EntryPoint = "shutdown", SetLastError = true)]
    private static partial int ShutdownNative(SafeUnixSocket socket, int how);

    [LibraryImport(LibraryName, EntryPoint = "close")]
    internal static partial int CloseDescriptor(int fd);

    /// <summary>Connects a new socket to the one listening on <paramref name="path"/>.</summary>
    /// <param name="path">The socket's path in the file system (at most 107 bytes of UTF-8).</param>
    /// <param name="errno">Why it failed: ENOENT or ECONNREFUSED while the other side has not bound yet.</param>
    /// <returns>The connected socket, or null.</returns>
    public static unsafe SafeUnixSocket? TryConnectUnix(string path, out int errno)
    {
        SafeUnixSocket socket = NewUnixSocket();
        byte* address = stackalloc byte[2 + SunPathLength];
        int length = WriteAddress(address, path);
        if (ConnectNative(socket, address, length) == 0)
        {
            errno = 0;
            return socket;
        }
        errno = Marshal.GetLastPInvokeError();
        socket.Dispose();
        return null;
    }

    /// <summary>Binds a new socket to <paramref name="path"/> and listens on it.</summary>
    /// <exception cref="IOException">The path cannot be bound (it exists, the folder is missing, …).</exception>
    public static unsafe SafeUnixSocket ListenUnix(string path, int backlog)
    {
        SafeUnixSocket socket = NewUnixSocket();
        byte* address = stackalloc byte[2 + SunPathLength];
        int length = WriteAddress(address, path);
        if (BindNative(socket, address, length) != 0 || ListenNative(socket, backlog) != 0)
        {
            Exception error = ErrorFor("bind/listen", path);
            socket.Dispose();
            throw error;
        }
        return socket;
    }

    private static SafeUnixSocket NewUnixSocket()
    {
        int fd = SocketNative(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
        {
            throw ErrorFor("socket");
        }
        return new SafeUnixSocket(fd);
    }

    private static unsafe int WriteAddress(byte* address, string path)
    {
        // struct sockaddr_un: sa_family_t, then a NUL-terminated path.
        int count = Encoding.UTF8.GetByteCount(path);
        if (count >= SunPathLength)
        {
            throw new ArgumentException($"The socket path '{path}' is {count} bytes long; a Unix socket path holds at most {SunPathLength - 1}.", nameof(path));
        }
        *(ushort*)address = AF_UNIX;
        Encoding.UTF8.GetBytes(path, new Span<byte>(address + 2, count));
        address[2 + count] = 0;
        return 2 + count + 1;
    }

    /// <summary>Accepts one connection; null once the listening socket was shut down or closed.</summary>
    public static SafeUnixSocket? Accept(SafeUnixSocket listener)
    {
        while (true)
        {
            int fd = AcceptNative(listener, 0, 0, SOCK_CLOEXEC);
            if (fd >= 0)
            {
                return new SafeUnixSocket(fd);
            }
            int errno = Marshal.GetLastPInvokeError();
            if (errno == Errno.EINTR || errno == ECONNABORTED)
            {
                continue;
            }
            if (errno is Errno.EINVAL or Errno.EBADF)
            {
                return null; // shut down by Close: the listener is done
            }
            throw SocketError("accept");
        }
    }

    private const int ECONNABORTED = 103;

    /// <summary>
    /// The control channel's callers treat any failure to move bytes as the peer being gone, so every
    /// errno becomes an IOException here (ErrorFor would make ENOBUFS an out-of-memory exception).
    /// </summary>
    private static IOException SocketError(string call)
    {
        int errno = Marshal.GetLastPInvokeError();
        return new IOException($"{call} failed on a control socket: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno}).", new System.ComponentModel.Win32Exception(errno));
    }

    /// <summary>connect: nobody listens on the path (yet).</summary>
    public const int ECONNREFUSED = 111;

    /// <summary>Sends all of <paramref name="data"/>, blocking while the socket is full.</summary>
    /// <exception cref="IOException">The other end is gone (EPIPE, ECONNRESET) or the socket was shut down.</exception>
    public static unsafe void SendAll(SafeUnixSocket socket, ReadOnlySpan<byte> data)
    {
        fixed (byte* start = data)
        {
            int sent = 0;
            while (sent < data.Length)
            {
                nint n = SendNative(socket, start + sent, data.Length - sent, MSG_NOSIGNAL);
                if (n < 0)
                {
                    if (Marshal.GetLastPInvokeError() == Errno.EINTR)
                    {
                        continue;
                    }
                    throw SocketError("send");
                }
                sent += (int)n;
            }
        }
    }

    /// <summary>Receives what is there, blocking until something is; 0 at end of stream.</summary>
    /// <exception cref="TimeoutException">A receive time-out was set and passed.</exception>
    /// <exception cref="IOException">The socket failed (ECONNRESET) or was closed.</exception>
    public static unsafe int Receive(SafeUnixSocket socket, Span<byte> buffer)
    {
        fixed (byte* start = buffer)
        {
            while (true)
            {
                nint n = ReceiveNative(socket, start, buffer.Length, 0);
                if (n >= 0)
                {
                    return (int)n;
                }
                int errno = Marshal.GetLastPInvokeError();
                if (errno == Errno.EINTR)
                {
                    continue;
                }
                if (errno == Errno.EAGAIN)
                {
                    throw new TimeoutException("Nothing arrived on the control socket within its receive time-out.");
                }
                throw SocketError("recv");
            }
        }
    }

    /// <summary>Bounds every later blocking receive (zero: no bound).</summary>
    public static unsafe void SetReceiveTimeout(SafeUnixSocket socket, TimeSpan timeout)
    {
        long* timeval = stackalloc long[2];
        timeval[0] = (long)timeout.TotalSeconds;
        timeval[1] = (long)(timeout.Ticks % TimeSpan.TicksPerSecond / 10);
        if (SetSocketOptionNative(socket, SOL_SOCKET, SO_RCVTIMEO, timeval, 16) != 0)
        {
            throw SocketError("setsockopt(SO_RCVTIMEO)");
        }
    }

    /// <summary>Ends both directions: a peer's receive sees end of stream, and a thread blocked here in accept or recv returns.</summary>
    public static void Shutdown(SafeUnixSocket socket)
    {
        if (socket.IsClosed)
        {
            return;
        }
        try
        {
            _ = ShutdownNative(socket, SHUT_RDWR); // ENOTCONN for a socket never connected: nothing to end
        }
        catch (ObjectDisposedException)
        {
        }
    }
}

/// <summary>A socket descriptor, closed once every call using it has returned.</summary>
internal sealed class SafeUnixSocket : SafeHandleMinusOneIsInvalid
{
    public SafeUnixSocket()
        : base(ownsHandle: true)
    {
    }

    public SafeUnixSocket(int fd)
        : base(ownsHandle: true)
    {
        SetHandle(fd);
    }

    protected override bool ReleaseHandle() => Libc.CloseDescriptor((int)handle) == 0;
}
