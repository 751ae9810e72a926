using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Multiprocessing.Cluster;
using Multiprocessing.Cluster.Node;

namespace Multiprocessing.Benchmarks.Cluster;

/// <summary>
/// This program as a cluster node (<c>cluster node NAME SILO_PORT GATEWAY_PORT WORKERS CLUSTER_ID [PRIMARY_SILO_PORT]</c>):
/// a silo on loopback whose local pool runs this assembly's tasks, so the node needs no --app. Like
/// <c>mp node</c>, it starts itself over with tiered compilation off unless its environment sets it
/// (<c>--node-env DOTNET_TieredCompilation=1</c> keeps the runtime's default).
/// </summary>
internal static class ClusterNodeEntry
{
    public const string Command = "node";

    public static async Task<int> RunAsync(string[] args)
    {
        if (args is not [var name, var silo, var gateway, var workers, var clusterId, .. var rest] || rest.Length > 1)
        {
            Console.Error.WriteLine("usage: cluster node NAME SILO_PORT GATEWAY_PORT WORKERS CLUSTER_ID [PRIMARY_SILO_PORT]");
            return 2;
        }
        if (NodeRuntime.ShouldRestart())
        {
            // As mp node does; returns only when the restart failed.
            Console.Error.WriteLine($"cluster node: could not start over with the node's runtime settings: {NodeRuntime.Restart().Message}");
        }
        // As mp node: nothing read from (or watched in) the working directory.
        HostApplicationBuilder builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddProcessPoolNode(o =>
        {
            o.Name = name;
            o.SiloPort = int.Parse(silo, CultureInfo.InvariantCulture);
            o.GatewayPort = int.Parse(gateway, CultureInfo.InvariantCulture);
            // Localhost clustering: the first node keeps the membership table, the other names its silo port.
            o.PrimarySiloPort = rest is [var primary] ? int.Parse(primary, CultureInfo.InvariantCulture) : null;
            o.PoolOptions = new ProcessPoolOptions { Workers = int.Parse(workers, CultureInfo.InvariantCulture) };
            o.ClusterId = o.ServiceId = clusterId;
            o.BindAddress = IPAddress.Loopback;
        });
        await builder.Build().RunAsync().ConfigureAwait(false);
        return 0;
    }
}

/// <summary>
/// A node started as a child process of the runner. Its descendants (the node's worker processes)
/// are noted with their start times before the node is killed, so that the ones a SIGKILLed node
/// leaves behind are killed by pid afterwards, and never a process that later took the same pid.
/// </summary>
internal sealed class NodeProcess : IDisposable
{
    private readonly Process _process;
    private readonly List<(int Pid, string StartTime)> _descendants = [];
    private readonly Queue<string> _lastLines = new();

    private NodeProcess(Process process) => _process = process;

    public int Pid => _process.Id;

    public static NodeProcess Start(string name, int siloPort, int gatewayPort, int workers, string clusterId, int? primarySiloPort, IReadOnlyDictionary<string, string> environment)
    {
        string self = typeof(NodeProcess).Assembly.Location;
        var start = new ProcessStartInfo("dotnet")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        foreach ((string variable, string value) in environment)
        {
            start.Environment[variable] = value;
        }
        foreach (string a in new[] { self, ClusterRunner.Command, ClusterNodeEntry.Command, name, Invariant(siloPort), Invariant(gatewayPort), Invariant(workers), clusterId })
        {
            start.ArgumentList.Add(a);
        }
        if (primarySiloPort is int primary)
        {
            start.ArgumentList.Add(Invariant(primary));
        }
        var node = new NodeProcess(Process.Start(start) ?? throw new InvalidOperationException("Could not start a node."));
        // The node's log is kept only for an error message; it must be drained so that the node never blocks on a full pipe.
        node._process.OutputDataReceived += (_, e) => node.Keep(e.Data);
        node._process.ErrorDataReceived += (_, e) => node.Keep(e.Data);
        node._process.BeginOutputReadLine();
        node._process.BeginErrorReadLine();
        return node;
    }

    public bool HasExited => _process.HasExited;

    public string LastLines
    {
        get
        {
            lock (_lastLines)
            {
                return string.Join(" | ", _lastLines);
            }
        }
    }

    /// <summary>SIGKILL to the node process alone, as when the node dies; its workers are noted first and killed in <see cref="Dispose"/>.</summary>
    public void KillNodeOnly()
    {
        NoteDescendants();
        _process.Kill(entireProcessTree: false);
    }

    /// <summary>Kills the node and every descendant it has or had, by pid.</summary>
    public void Dispose()
    {
        NoteDescendants();
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(10_000);
            }
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
        // A killed runtime leaves its diagnostics socket and debugger pipes in the temp folder.
        Multiprocessing.Worker.WorkerLauncher.RemoveDiagnosticFiles(_process.Id);
        foreach ((int pid, string startTime) in _descendants)
        {
            if (StartTime(pid) == startTime)
            {
                try
                {
                    using Process orphan = Process.GetProcessById(pid);
                    orphan.Kill();
                }
                catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
                {
                    // Exited between the check and the kill.
                }
            }
        }
        _process.Dispose();
    }

    /// <summary>The node's live descendants now: its worker processes.</summary>
    public int[] Workers()
    {
        var found = new List<int>();
        var pending = new Stack<int>([_process.Id]);
        while (pending.Count > 0)
        {
            foreach (int child in Children(pending.Pop()))
            {
                found.Add(child);
                pending.Push(child);
            }
        }
        return [.. found];
    }

    private void Keep(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_lastLines)
        {
            _lastLines.Enqueue(line);
            while (_lastLines.Count > 5)
            {
                _lastLines.Dequeue();
            }
        }
    }

    private void NoteDescendants()
    {
        var pending = new Stack<int>([_process.Id]);
        while (pending.Count > 0)
        {
            int pid = pending.Pop();
            foreach (int child in Children(pid))
            {
                if (StartTime(child) is string start && !_descendants.Contains((child, start)))
                {
                    _descendants.Add((child, start));
                }
                pending.Push(child);
            }
        }
    }

    private static IEnumerable<int> Children(int pid)
    {
        var children = new List<int>();
        try
        {
            foreach (string task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
            {
                string text = File.ReadAllText(Path.Combine(task, "children"));
                children.AddRange(text.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(p => int.Parse(p, CultureInfo.InvariantCulture)));
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The process exited while being read.
        }
        return children;
    }

    /// <summary>Field 22 of /proc/PID/stat (start time in clock ticks since boot), or null if the process is gone.</summary>
    private static string? StartTime(int pid)
    {
        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return fields[19];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Ports free on loopback now (bound and released; another process could take one before the node does, which the node's start would report).</summary>
    public static int[] FreePorts(int count)
    {
        var listeners = new List<TcpListener>();
        try
        {
            for (int i = 0; i < count; i++)
            {
                var listener = new TcpListener(IPAddress.Loopback, 0);
                listener.Start();
                listeners.Add(listener);
            }
            return [.. listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port)];
        }
        finally
        {
            foreach (TcpListener listener in listeners)
            {
                listener.Stop();
            }
        }
    }

    private static string Invariant(int value) => value.ToString(CultureInfo.InvariantCulture);
}

/// <summary>Two nodes of this program on loopback, "alpha" and "beta", and a client connected to both once both have joined.</summary>
internal sealed class TwoNodes : IAsyncDisposable
{
    private TwoNodes(NodeProcess first, NodeProcess second, ClusterPool pool)
    {
        First = first;
        Second = second;
        Pool = pool;
    }

    public NodeProcess First { get; }

    public NodeProcess Second { get; }

    public ClusterPool Pool { get; }

    /// <summary>How long the two nodes took to both appear in the client's view.</summary>
    public TimeSpan JoinTime { get; private init; }

    /// <exception cref="InvalidOperationException">A node exited, or the two did not both join within 120 s.</exception>
    public static async Task<TwoNodes> StartAsync(string clusterId, int workersPerNode, IReadOnlyDictionary<string, string> nodeEnvironment)
    {
        int[] ports = NodeProcess.FreePorts(4);
        NodeProcess first = NodeProcess.Start("alpha", ports[0], ports[1], workersPerNode, clusterId, null, nodeEnvironment);
        NodeProcess? second = null;
        ClusterPool? pool = null;
        try
        {
            second = NodeProcess.Start("beta", ports[2], ports[3], workersPerNode, clusterId, ports[0], nodeEnvironment);
            pool = await ClusterPool.ConnectAsync(new ClusterPoolOptions
            {
                GatewayPorts = [ports[1], ports[3]],
                ClusterId = clusterId,
                ServiceId = clusterId,
                ConnectTimeout = TimeSpan.FromSeconds(120),
            }).ConfigureAwait(false);
            var wait = Stopwatch.StartNew();
            while (pool.Nodes.Count < 2)
            {
                if (first.HasExited || second.HasExited || wait.Elapsed > TimeSpan.FromSeconds(120))
                {
                    throw new InvalidOperationException($"The two nodes did not both join within {wait.Elapsed.TotalSeconds:0} s (alpha: {first.LastLines}; beta: {second.LastLines}).");
                }
                await Task.Delay(100).ConfigureAwait(false);
            }
            return new TwoNodes(first, second, pool) { JoinTime = wait.Elapsed };
        }
        catch
        {
            if (pool is not null)
            {
                await pool.DisposeAsync().ConfigureAwait(false);
            }
            second?.Dispose();
            first.Dispose();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        // In the order the callers' using declarations had: the client first, then the nodes.
        await Pool.DisposeAsync().ConfigureAwait(false);
        Second.Dispose();
        First.Dispose();
    }
}
