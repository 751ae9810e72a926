using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Multiprocessing.Cluster;

namespace Multiprocessing.Tests.Cluster;

/// <summary>
/// Membership in a real Redis server: the one CI starts (MP_TEST_REDIS=host:port), or one this test
/// starts on loopback when redis-server is installed. Without either it reports itself skipped.
/// </summary>
[Collection("cluster")]
public sealed class RedisClusterTests
{
    [SkippableFact]
    public async Task RedisMembership_TwoNodes_MapAndSubmitRun()
    {
        await using RedisServer redis = RedisServer.Find();
        await using ClusterNodes nodes = await ClusterNodes.StartAsync(2, redis: redis.Endpoint);
        await using ClusterPool pool = await ClusterPool.ConnectAsync(nodes.ClientOptions());
        await Wait.UntilAsync(() => pool.Nodes.Count == 2, "the client finds both nodes through Redis");
        Assert.Equal(Enumerable.Range(0, 1000).Select(i => i * i), await pool.MapAsync(Tasks.Square, Enumerable.Range(0, 1000)));
        Assert.Equal(81, await pool.SubmitAsync(Tasks.Square, 9));
    }

    private sealed class RedisServer : IAsyncDisposable
    {
        private readonly Process? _process;

        private RedisServer(string endpoint, Process? process) => (Endpoint, _process) = (endpoint, process);

        public string Endpoint { get; }

        public static RedisServer Find()
        {
            if (Environment.GetEnvironmentVariable("MP_TEST_REDIS") is { Length: > 0 } given)
            {
                Skip.IfNot(Reachable(given), $"MP_TEST_REDIS={given}, but no Redis server answers there.");
                return new RedisServer(given, null);
            }
            Skip.IfNot(File.Exists("/usr/bin/redis-server"), "No Redis server: set MP_TEST_REDIS=127.0.0.1:PORT or install redis-server (.ci/run does both).");
            int port;
            using (var listener = new TcpListener(IPAddress.Loopback, 0))
            {
                listener.Start();
                port = ((IPEndPoint)listener.LocalEndpoint).Port;
            }
            var start = new ProcessStartInfo("/usr/bin/redis-server") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (string argument in new[] { "--bind", "127.0.0.1", "--port", port.ToString(), "--save", "", "--appendonly", "no" })
            {
                start.ArgumentList.Add(argument);
            }
            var process = Process.Start(start)!;
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            string endpoint = $"127.0.0.1:{port}";
            var deadline = Stopwatch.StartNew();
            while (!Reachable(endpoint))
            {
                if (deadline.Elapsed > Bounds.Unexpected || process.HasExited)
                {
                    process.Kill();
                    throw new InvalidOperationException($"redis-server did not listen on {endpoint}");
                }
                Thread.Sleep(50);
            }
            return new RedisServer(endpoint, process);
        }

        private static bool Reachable(string endpoint)
        {
            try
            {
                string[] parts = endpoint.Split(':');
                using var client = new TcpClient();
                client.Connect(parts[0], int.Parse(parts[1]));
                return true;
            }
            catch (SocketException)
            {
                return false;
            }
        }

        public async ValueTask DisposeAsync()
        {
            if (_process is not null)
            {
                _process.Kill();
                await _process.WaitForExitAsync();
                _process.Dispose();
            }
        }
    }
}
