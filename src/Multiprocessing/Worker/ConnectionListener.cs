using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Security.Cryptography;
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
    private static readonly TimeSpan s_helloTimeout = TimeSpan.FromSeconds(10);

    private readonly Lock _gate = new();
    private readonly ConcurrentDictionary<string, TaskCompletionSource<Socket>> _pending = new();
    private Socket? _socket;
    private string? _directory;

    public static ConnectionListener Shared { get; } = new();

    /// <summary>Prepares for one worker: returns the socket path and token to give it, and the task that receives its connection.</summary>
    public Expectation Expect()
    {
        string token = Convert.ToHexString(RandomNumberGenerator.GetBytes(Protocol.TokenSize));
        var arrival = new TaskCompletionSource<Socket>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            _pending[token] = arrival;
            if (_socket is null)
            {
                Open();
            }
            return new Expectation(this, _socket!.LocalEndPoint!.ToString()!, token, arrival.Task);
        }
    }

    private void Forget(string token)
    {
        lock (_gate)
        {
            if (_pending.TryRemove(token, out TaskCompletionSource<Socket>? arrival))
            {
                arrival.TrySetCanceled();
            }
            if (_pending.IsEmpty && _socket is not null)
            {
                Close();
            }
        }
    }

    private void Open()
    {
        string root = Path.GetTempPath();
        // sun_path holds 108 bytes; a long TMPDIR must not make the socket unbindable.
        if (root.Length > 80)
        {
            root = "/tmp";
        }
        string directory = Path.Combine(root, "mp-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(6)).ToLowerInvariant());
        System.Diagnostics.Debug.Assert(OperatingSystem.IsLinux());
        Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        string path = Path.Combine(directory, "control");
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            socket.Bind(new UnixDomainSocketEndPoint(path));
            socket.Listen(512);
        }
        catch
        {
            socket.Dispose();
            Directory.Delete(directory, recursive: true);
            throw;
        }
        _socket = socket;
        _directory = directory;
        _ = AcceptLoopAsync(socket);
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

    private async Task AcceptLoopAsync(Socket listener)
    {
        while (true)
        {
            Socket connection;
            try
            {
                connection = await listener.AcceptAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                return;
            }
            _ = AuthenticateAsync(connection);
        }
    }

    private async Task AuthenticateAsync(Socket connection)
    {
        try
        {
            using var timeout = new CancellationTokenSource(s_helloTimeout);
            byte[] frame = new byte[Protocol.HeaderSize + Protocol.TokenSize * 2 + sizeof(int)];
            int read = 0;
            while (read < frame.Length)
            {
                int n = await connection.ReceiveAsync(frame.AsMemory(read), SocketFlags.None, timeout.Token).ConfigureAwait(false);
                if (n == 0)
                {
                    throw new EndOfStreamException();
                }
                read += n;
            }
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
        catch (Exception e) when (e is SocketException or OperationCanceledException or EndOfStreamException or InvalidDataException or ObjectDisposedException)
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
