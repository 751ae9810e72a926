using System.Collections.Concurrent;
using Multiprocessing.Interop;
using Multiprocessing.Payload;
using Multiprocessing.Serialization;
using Multiprocessing.Wire;

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
    private readonly ConcurrentDictionary<string, TaskCompletionSource<SafeUnixSocket>> _pending = new();
    private SafeUnixSocket? _socket;
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
        string token = Hex(RandomBytes(Protocol.TokenSize));
        var arrival = new TaskCompletionSource<SafeUnixSocket>(TaskCreationOptions.RunContinuationsAsynchronously);
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
            SafeUnixSocket socket;
            try
            {
                socket = Libc.ListenUnix(Path.Combine(_directory, "control"), 512);
            }
            catch (Exception e)
            {
                // Every worker waiting to connect learns why it never will.
                foreach (TaskCompletionSource<SafeUnixSocket> arrival in _pending.Values)
                {
                    arrival.TrySetException(new WorkerStartException($"The control socket for worker processes could not be opened at {_directory}: {e.Message}", e));
                }
                return;
            }
            _socket = socket;
            // Accepting and reading the hello synchronously on a thread of our own: every control
            // socket stays a plain blocking descriptor read by one thread of its own.
            new Thread(() => AcceptLoop(socket)) { IsBackground = true, Name = "mp accept" }.Start();
        }
    }

    private static byte[] RandomBytes(int count)
    {
        byte[] bytes = new byte[count];
        Interop.Libc.GetRandomBytes(bytes);
        return bytes;
    }

    /// <summary>
    /// Upper-case hex, as <see cref="Convert.ToHexString(byte[])"/> writes it. Not that method: the
    /// framework's image has no precompiled code for its vectorised body, so a fresh parent
    /// JIT-compiled it just before it could launch its first worker.
    /// </summary>
    private static string Hex(byte[] bytes) => string.Create(bytes.Length * 2, bytes, static (chars, source) =>
    {
        const string Digits = "0123456789ABCDEF";
        for (int i = 0; i < source.Length; i++)
        {
            chars[2 * i] = Digits[source[i] >> 4];
            chars[2 * i + 1] = Digits[source[i] & 0xF];
        }
    });

    private void Forget(string token)
    {
        lock (_gate)
        {
            if (_pending.TryRemove(token, out TaskCompletionSource<SafeUnixSocket>? arrival))
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
        string directory = Path.Combine(root, "mp-" + Hex(RandomBytes(6)).ToLowerInvariant());
        System.Diagnostics.Debug.Assert(OperatingSystem.IsLinux());
        Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return directory;
    }

    private void Close()
    {
        if (_socket is not null)
        {
            // Wakes the accept thread, which then lets go of the descriptor.
            Libc.Shutdown(_socket);
            _socket.Dispose();
        }
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

    private void AcceptLoop(SafeUnixSocket listener)
    {
        while (true)
        {
            SafeUnixSocket? connection;
            try
            {
                connection = Libc.Accept(listener);
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException)
            {
                return;
            }
            if (connection is null)
            {
                return;
            }
            Authenticate(connection);
        }
    }

    private void Authenticate(SafeUnixSocket connection)
    {
        try
        {
            Libc.SetReceiveTimeout(connection, s_helloTimeout);
            byte[] frame = new byte[Protocol.HeaderSize + Protocol.TokenSize * 2 + sizeof(int)];
            int read = 0;
            while (read < frame.Length)
            {
                int n = Libc.Receive(connection, frame.AsSpan(read));
                if (n == 0)
                {
                    throw new EndOfStreamException();
                }
                read += n;
            }
            Libc.SetReceiveTimeout(connection, TimeSpan.Zero);
            var reader = new PayloadReader(frame);
            int length = reader.Read<int>();
            var type = (FrameType)reader.Read<byte>();
            string token = System.Text.Encoding.ASCII.GetString(reader.ReadBytes(Protocol.TokenSize * 2));
            if (length != frame.Length - sizeof(int) || type != FrameType.Hello || !_pending.TryRemove(token, out TaskCompletionSource<SafeUnixSocket>? arrival))
            {
                connection.Dispose();
                return;
            }
            if (!arrival.TrySetResult(connection))
            {
                connection.Dispose();
            }
        }
        catch (Exception e) when (e is IOException or TimeoutException or InvalidDataException or ObjectDisposedException)
        {
            connection.Dispose();
        }
    }

    /// <summary>One awaited worker connection; dispose once it arrived or the start was abandoned.</summary>
    public sealed class Expectation(ConnectionListener listener, string socketPath, string token, Task<SafeUnixSocket> connection) : IDisposable
    {
        public string SocketPath { get; } = socketPath;

        public string Token { get; } = token;

        public Task<SafeUnixSocket> Connection { get; } = connection;

        public void Dispose() => listener.Forget(Token);
    }
}
