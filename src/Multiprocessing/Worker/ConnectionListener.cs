using System.Collections.Concurrent;
using System.Net.Sockets;
using Multiprocessing.Serialization;

namespace Multiprocessing.Worker;

/// <summary>
/// The Unix domain socket that starting workers connect back to. It lives in a fresh directory
/// only this user can enter (0700), exists only while some worker is starting, and accepts a
/// connection only when its first frame carries the random token that was given to that worker.
/// No TCP port is ever opened.
/// </summary>
internal sealed class ConnectionListener
{
    private static readonly TimeSpan s_helloTimeout = TimeSpan.FromSeconds(5);

    private readonly Lock _gate = new();
    private readonly ConcurrentDictionary<string, TaskCompletionSource<Socket>> _pending = new();
    private Socket? _socket;
    private string? _directory;

    public static ConnectionListener Shared { get; } = new();

    /// <summary>
    /// Prepares for one worker: returns the socket path and token to give it, and the task that
    /// receives its connection. The socket itself is bound by <see cref="EnsureListening"/>, which
    /// callers run after starting the process, so that binding overlaps the worker's own start-up;
    /// the worker retries its connect until the socket exists.
    /// </summary>
    public Expectation Expect()
    {
        string token = Convert.ToHexString(RandomBytes(Protocol.TokenSize));
        var arrival = new TaskCompletionSource<Socket>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            _pending[token] = arrival;
            _directory ??= CreateDirectory();
            return new Expectation(this, Path.Combine(_directory, "control"), token, arrival.Task);
        }
    }

    /// <summary>Binds and listens, if not already, on the path that <see cref="Expect"/> handed out.</summary>
    public void EnsureListening()
    {
        lock (_gate)
        {
            if (_socket is not null || _directory is null || _pending.IsEmpty)
            {
                return;
            }
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                socket.Bind(new UnixDomainSocketEndPoint(Path.Combine(_directory, "control")));
                socket.Listen(512);
            }
            catch (Exception e)
            {
                socket.Dispose();
                // Every worker waiting to connect learns why it never will.
                foreach (TaskCompletionSource<Socket> arrival in _pending.Values)
                {
                    arrival.TrySetException(new WorkerStartException($"The control socket for worker processes could not be opened at {_directory}: {e.Message}", e));
                }
                return;
            }
            _socket = socket;
            // Accepting and reading the hello synchronously on a thread of our own keeps every
            // connection in blocking mode: a socket that has seen one async call is switched to
            // .NET's epoll emulation for good, which adds a thread hop to every later message.
            new Thread(() => AcceptLoop(socket)) { IsBackground = true, Name = "mp accept" }.Start();
        }
    }

    private static byte[] RandomBytes(int count)
    {
        byte[] bytes = new byte[count];
        Interop.Libc.GetRandomBytes(bytes);
        return bytes;
    }

    private void Forget(string token)
    {
        lock (_gate)
        {
            if (_pending.TryRemove(token, out TaskCompletionSource<Socket>? arrival))
            {
                arrival.TrySetCanceled();
            }
            if (_pending.IsEmpty)
            {
                Close();
            }
        }
    }

    private static string CreateDirectory()
    {
        string root = Path.GetTempPath();
        // sun_path holds 108 bytes; a long TMPDIR must not make the socket unbindable.
        if (root.Length > 80)
        {
            root = "/tmp";
        }
        string directory = Path.Combine(root, "mp-" + Convert.ToHexString(RandomBytes(6)).ToLowerInvariant());
        System.Diagnostics.Debug.Assert(OperatingSystem.IsLinux());
        Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return directory;
    }

    private void Close()
    {
        _socket?.Dispose();
        _socket = null;
        try
        {
            if (_directory is not null)
            {
                Directory.Delete(_directory, recursive: true);
            }
        }
        catch (IOException)
        {
            // Someone else removed it (a temp-folder cleaner); nothing is left to leak.
        }
        _directory = null;
    }

    private void AcceptLoop(Socket listener)
    {
        while (true)
        {
            Socket connection;
            try
            {
                connection = listener.Accept();
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                return;
            }
            Authenticate(connection);
        }
    }

    private void Authenticate(Socket connection)
    {
        try
        {
            connection.ReceiveTimeout = (int)s_helloTimeout.TotalMilliseconds;
            byte[] frame = new byte[Protocol.HeaderSize + Protocol.TokenSize * 2 + sizeof(int)];
            int read = 0;
            while (read < frame.Length)
            {
                int n = connection.Receive(frame, read, frame.Length - read, SocketFlags.None);
                if (n == 0)
                {
                    throw new EndOfStreamException();
                }
                read += n;
            }
            connection.ReceiveTimeout = 0;
            var reader = new PayloadReader(frame);
            int length = reader.Read<int>();
            var type = (FrameType)reader.Read<byte>();
            string token = System.Text.Encoding.ASCII.GetString(reader.ReadBytes(Protocol.TokenSize * 2));
            if (length != frame.Length - sizeof(int) || type != FrameType.Hello || !_pending.TryRemove(token, out TaskCompletionSource<Socket>? arrival))
            {
                connection.Dispose();
                return;
            }
            if (!arrival.TrySetResult(connection))
            {
                connection.Dispose();
            }
        }
        catch (Exception e) when (e is SocketException or EndOfStreamException or InvalidDataException or ObjectDisposedException)
        {
            connection.Dispose();
        }
    }

    /// <summary>One awaited worker connection; dispose once it arrived or the start was abandoned.</summary>
    public sealed class Expectation(ConnectionListener listener, string socketPath, string token, Task<Socket> connection) : IDisposable
    {
        public string SocketPath { get; } = socketPath;

        public string Token { get; } = token;

        public Task<Socket> Connection { get; } = connection;

        public void Dispose() => listener.Forget(Token);
    }
}
