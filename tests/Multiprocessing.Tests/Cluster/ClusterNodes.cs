using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Multiprocessing.Cluster;
using Multiprocessing.Worker;

namespace Multiprocessing.Tests.Cluster;

/// <summary>
/// Real nodes for cluster tests: <c>mp node</c> processes on loopback, whose workers run this test
/// assembly's methods (<c>--app</c>), on free ports. Disposing kills every node and its workers.
/// </summary>
internal sealed class ClusterNodes : IAsyncDisposable
{
    private readonly List<Node> _nodes = [];
    private readonly string _clusterId = "test-" + Guid.NewGuid().ToString("N")[..8];
    private readonly string? _redis;
    private readonly TestCertificate? _tls;

    private ClusterNodes(string? redis, TestCertificate? tls)
    {
        _redis = redis;
        _tls = tls;
    }

    public IReadOnlyList<Node> Nodes => _nodes;

    /// <summary>
    /// Starts <paramref name="count"/> nodes of <paramref name="workers"/> workers each; the first keeps the membership (localhost clustering).
    /// With <paramref name="tls"/>, every node uses TLS with that certificate and trusts only it.
    /// </summary>
    public static async Task<ClusterNodes> StartAsync(int count, int workers = 1, string? redis = null, TestCertificate? tls = null)
    {
        var cluster = new ClusterNodes(redis, tls);
        try
        {
            for (int i = 0; i < count; i++)
            {
                await cluster.AddAsync(workers);
            }
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
        return cluster;
    }

    public string ClusterId => _clusterId;

    public ClusterPoolOptions ClientOptions() => new()
    {
        RedisConnectionString = _redis,
        GatewayPorts = [.. _nodes.Where(n => n.Ready.Task.IsCompletedSuccessfully).Select(n => n.GatewayPort)],
        ClusterId = _clusterId,
        ServiceId = _clusterId,
        ConnectTimeout = Bounds.Unexpected,
        Tls = _tls is null ? null : new ClusterTlsOptions { TrustedThumbprints = [_tls.Thumbprint] },
    };

    public Task<Node> AddAsync(int workers) => AddAsync(workers, _tls);

    /// <summary>Starts one more node, with <paramref name="tls"/> (null: plain TCP) whatever the others use, and <paramref name="extra"/> arguments for mp node.</summary>
    public Task<Node> AddAsync(int workers, TestCertificate? tls, params string[] extra) => AddAsync(workers, tls, new Dictionary<string, string?>(), extra);

    /// <summary>As <see cref="AddAsync(int, TestCertificate?, string[])"/>, with <paramref name="environment"/> set for mp node on top of this process's (a null value removes the variable).</summary>
    public async Task<Node> AddAsync(int workers, TestCertificate? tls, IReadOnlyDictionary<string, string?> environment, params string[] extra)
    {
        (int siloPort, int gatewayPort) = (FreePort(), FreePort());
        string mp = Path.Combine(AppContext.BaseDirectory, "mp.dll");
        string app = Path.Combine(AppContext.BaseDirectory, "Multiprocessing.Tests.dll");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        foreach (string argument in new[] { mp, "node", "--app", app, "--workers", workers.ToString(), "--port", siloPort.ToString(), "--gateway-port", gatewayPort.ToString(),
            "--name", $"node{_nodes.Count + 1}", "--cluster-id", _clusterId, "--cluster", _redis is null ? "localhost" : "redis://" + _redis })
        {
            start.ArgumentList.Add(argument);
        }
        if (tls is not null)
        {
            foreach (string argument in new[] { "--tls-certificate", tls.Path, "--tls-password", tls.Password, "--tls-trust", tls.Thumbprint })
            {
                start.ArgumentList.Add(argument);
            }
        }
        foreach (string argument in extra)
        {
            start.ArgumentList.Add(argument);
        }
        foreach ((string name, string? value) in environment)
        {
            if (value is null)
            {
                start.Environment.Remove(name);
            }
            else
            {
                start.Environment[name] = value;
            }
        }
        if (_redis is null && _nodes.Count > 0)
        {
            start.ArgumentList.Add("--primary-port");
            start.ArgumentList.Add(_nodes[0].SiloPort.ToString());
        }
        var process = Process.Start(start)!;
        var node = new Node(process, siloPort, gatewayPort);
        _nodes.Add(node);
        await node.Ready.Task.WaitAsync(Bounds.Unexpected).ConfigureAwait(false);
        return node;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (Node node in _nodes)
        {
            node.Kill();
        }
        foreach (Node node in _nodes)
        {
            await node.Process.WaitForExitAsync().WaitAsync(Bounds.Unexpected).ConfigureAwait(false);
            // A killed runtime leaves its diagnostics socket and debugger pipes in the temp folder.
            WorkerLauncher.RemoveDiagnosticFiles(node.Process.Id);
            // Workers leave when their node's control channels close.
            await Wait.UntilAsync(() => node.WorkerPids().All(pid => !Wait.ProcessExists(pid)), $"the workers of node {node.Process.Id} exit").ConfigureAwait(false);
            node.Process.Dispose();
        }
    }

    internal sealed class Node
    {
        private readonly StringBuilder _log = new();
        private readonly HashSet<int> _workers = [];

        public Node(Process process, int siloPort, int gatewayPort)
        {
            Process = process;
            SiloPort = siloPort;
            GatewayPort = gatewayPort;
            process.StandardInput.Close();
            process.OutputDataReceived += (_, e) => OnLine(e.Data);
            process.ErrorDataReceived += (_, e) => OnLine(e.Data);
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            process.EnableRaisingEvents = true;
            process.Exited += (_, _) => _ = FailReadyAsync();
        }

        public Process Process { get; }

        public int SiloPort { get; }

        public int GatewayPort { get; }

        public TaskCompletionSource Ready { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public string Log
        {
            get
            {
                lock (_log)
                {
                    return _log.ToString();
                }
            }
        }

        /// <summary>Worker processes the node started, from its log ("Worker process N started").</summary>
        public int[] WorkerPids()
        {
            lock (_log)
            {
                return [.. _workers];
            }
        }

        private void OnLine(string? line)
        {
            if (line is null)
            {
                return;
            }
            lock (_log)
            {
                _log.AppendLine(line);
                int at = line.IndexOf("Worker process ", StringComparison.Ordinal);
                if (at >= 0 && line.IndexOf(" started", at, StringComparison.Ordinal) > 0
                    && int.TryParse(line.AsSpan(at + "Worker process ".Length).ToString().Split(' ')[0], out int pid))
                {
                    _workers.Add(pid);
                }
            }
            if (line.StartsWith("mp node: ready", StringComparison.Ordinal))
            {
                Ready.TrySetResult();
            }
        }

        /// <summary>
        /// Fails <see cref="Ready"/> with the node's whole log. Exited is raised when the process ends, which can be before
        /// the asynchronous readers have delivered its last lines (the one that says why); WaitForExitAsync waits for both
        /// outputs to reach their end, bounded in case a stray child still holds them open.
        /// </summary>
        private async Task FailReadyAsync()
        {
            try
            {
                await Process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // Report what arrived.
            }
            Ready.TrySetException(new InvalidOperationException($"mp node exited before it was ready:\n{Log}"));
        }

        /// <summary>SIGKILL: the node gets no chance to tell anyone.</summary>
        public void Kill()
        {
            try
            {
                Process.Kill();
            }
            catch (InvalidOperationException)
            {
                // Already gone.
            }
        }
    }
}

/// <summary>Methods the cluster tests run in the nodes' workers.</summary>
internal static class ClusterTasks
{
    public static int SlowSquare(int x)
    {
        Thread.Sleep(400);
        return x * x;
    }

    public static int WorkerPid(int _) => Environment.ProcessId;

    /// <summary>Returns x² once process <c>Pid</c> is gone, leaving <c>Marker.PID</c> (this worker's) as it does.</summary>
    public static int SquareOnceGone((int Pid, string Marker, int X) a)
    {
        while (Wait.ProcessExists(a.Pid))
        {
            Thread.Sleep(2);
        }
        File.WriteAllText($"{a.Marker}.{Environment.ProcessId}", "");
        return a.X * a.X;
    }

    public static int SlowPid(int _)
    {
        Thread.Sleep(100);
        return Environment.ProcessId;
    }

    /// <summary>Runs in a node's worker until the node cancels it, leaving a file at each step.</summary>
    public static int RunUntilCancelled(string marker, CancellationToken token)
    {
        File.WriteAllText(marker, "");
        token.WaitHandle.WaitOne();
        File.WriteAllText(marker + ".cancelled", "");
        return 0;
    }

    /// <summary>Runs in a child process: a client that starts a task that never ends by itself, then waits to be killed.</summary>
    public static void ClientWithEndlessTask((int[] Gateways, string ClusterId, string Marker) a)
    {
        ClusterPool pool = ClusterPool.ConnectAsync(new ClusterPoolOptions { GatewayPorts = a.Gateways, ClusterId = a.ClusterId, ServiceId = a.ClusterId }).GetAwaiter().GetResult();
        _ = pool.SubmitAsync(RunUntilCancelled, a.Marker);
        Thread.Sleep(Timeout.Infinite);
    }
}
