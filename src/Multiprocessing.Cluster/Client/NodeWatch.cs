using System.Diagnostics;
using Multiprocessing.Cluster.Node;
using Multiprocessing.Scheduling;
using Orleans.Runtime;

namespace Multiprocessing.Cluster.Client;

/// <summary>
/// Which nodes a <see cref="ClusterPool"/> counts on, and what happens when one goes: reads the
/// cluster's membership, polls every node every <see cref="PollInterval"/>, adds nodes that joined
/// to the scheduler, loses nodes that stop answering (their chunks run elsewhere), sends again the
/// calls stranded behind a gateway that died (<see cref="NodeExecutor.Reconcile"/>), fails waiting
/// work when no node is left, and tells the nodes which shared arrays the caller disposed.
/// </summary>
internal sealed class NodeWatch(ClusterPool pool, IClusterClient client, Scheduler scheduler, ClusterPoolOptions options, ClientSharedData shared, TimeSpan responseTimeout)
{
    /// <summary>How often nodes are polled for their state (and told this client is alive).</summary>
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(500);

    private readonly Dictionary<string, NodeExecutor> _nodes = [];

    /// <summary>Orleans' response timeout (<c>ClientMessagingOptions.ResponseTimeout</c>) in Stopwatch ticks.</summary>
    private readonly long _responseTimeoutTicks = (long)(responseTimeout.TotalSeconds * Stopwatch.Frequency);

    private long _noNodeSince = Stopwatch.GetTimestamp();
    private long _callsSentAgain;
    private long _routeLostAt = long.MinValue;
    private Task? _loop;
    private Task _refresh = Task.CompletedTask;

    /// <summary>The nodes counted on or being met now.</summary>
    public NodeExecutor[] Snapshot()
    {
        lock (scheduler.Gate)
        {
            return [.. _nodes.Values];
        }
    }

    /// <summary>Calls sent again because their node did not list them after a route was lost (<see cref="NodeExecutor.Reconcile"/>).</summary>
    public long CallsSentAgain => Interlocked.Read(ref _callsSentAgain);

    /// <summary>Reads the membership, polls the nodes once, starts watching, and waits until a node takes work.</summary>
    public async Task StartAsync(CancellationToken lifetime, CancellationToken cancellationToken)
    {
        await RefreshAsync().ConfigureAwait(false);
        await PollAllAsync(lifetime).ConfigureAwait(false);
        _loop = WatchAsync(lifetime);
        await WaitForNodeAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Waits for the watch loop to end (after the pool's lifetime is cancelled).</summary>
    public Task StoppedAsync() => _loop ?? Task.CompletedTask;

    /// <summary>
    /// A route into the cluster was lost: a gateway connection closed (Orleans' gateway count went
    /// down) or a node was lost. Calls made before it may have gone through that gateway and be
    /// stranded there; the polls that follow find them (<see cref="NodeExecutor.Reconcile"/>).
    /// </summary>
    public void RouteLost() => Interlocked.Exchange(ref _routeLostAt, Stopwatch.GetTimestamp());

    /// <summary>Reads the cluster's membership: nodes that joined are polled from now on; nodes the cluster declared dead are lost.</summary>
    private async Task RefreshAsync()
    {
        MembershipEntry[] hosts = await client.GetGrain<IManagementGrain>(0).GetDetailedHosts(onlyActive: true).ConfigureAwait(false);
        var lost = new List<NodeExecutor>();
        lock (scheduler.Gate)
        {
            var active = new HashSet<string>();
            foreach (MembershipEntry host in hosts)
            {
                string address = host.SiloAddress.ToParsableString();
                active.Add(address);
                if (!_nodes.ContainsKey(address))
                {
                    _nodes[address] = new NodeExecutor(pool, scheduler, address, host.SiloName, client.GetGrain<INodeGrain>(address), client, options.ChunksPerWorker);
                }
            }
            lost.AddRange(_nodes.Values.Where(n => !active.Contains(n.Address)));
        }
        foreach (NodeExecutor node in lost)
        {
            Lose(node, "the cluster declared it dead");
        }
    }

    /// <summary>Polls every node: a node that fails two polls in a row (or leaves the membership) is lost.</summary>
    private async Task WatchAsync(CancellationToken lifetime)
    {
        using var timer = new PeriodicTimer(PollInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(lifetime).ConfigureAwait(false))
            {
                // The membership read is awaited for 2 s at most: sent through a gateway that just died,
                // it waits out Orleans' response timeout, and the polls must go on meanwhile (it is not
                // sent again until it ends). Awaited otherwise, it paces the polls as before, which a
                // node busy receiving a shared array's pieces needs to answer them in time.
                if (_refresh.IsCompleted)
                {
                    _refresh = RefreshQuietlyAsync();
                }
                try
                {
                    await _refresh.WaitAsync(TimeSpan.FromSeconds(2), lifetime).ConfigureAwait(false);
                }
                catch (TimeoutException)
                {
                }
                await PollAllAsync(lifetime).ConfigureAwait(false);
                CheckNoNode();
                await ReleaseDisposedSharedAsync(lifetime).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (lifetime.IsCancellationRequested)
        {
        }
    }

    private async Task RefreshQuietlyAsync()
    {
        try
        {
            await RefreshAsync().ConfigureAwait(false);
        }
        catch (Exception)
        {
            // No gateway answered this time (or the client stopped); the node polls still tell who is alive.
        }
    }

    /// <summary>Arrays the caller disposed since the last poll: the nodes drop their copies.</summary>
    private async Task ReleaseDisposedSharedAsync(CancellationToken lifetime)
    {
        Guid[] gone = shared.TakeDisposed();
        if (gone.Length == 0)
        {
            return;
        }
        try
        {
            await Task.WhenAll(Snapshot().SelectMany(n => gone.Select(n.ForgetSharedAsync))).WaitAsync(TimeSpan.FromSeconds(5), lifetime).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !lifetime.IsCancellationRequested)
        {
            // A node that cannot be told drops the copies when this client disconnects or stops polling it.
        }
    }

    private Task PollAllAsync(CancellationToken lifetime) => Task.WhenAll(Snapshot().Select(n => PollAsync(n, lifetime)));

    private async Task PollAsync(NodeExecutor node, CancellationToken lifetime)
    {
        NodeStatus status;
        long askedAt = Stopwatch.GetTimestamp();
        try
        {
            status = await node.Grain.GetStatusAsync(pool.ClientId, includeMemory: false).WaitAsync(TimeSpan.FromSeconds(2), lifetime).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !lifetime.IsCancellationRequested)
        {
            bool lose;
            lock (scheduler.Gate)
            {
                // A silo that never answered may be no node (or still starting): it was never counted on.
                lose = ++node.FailedPolls >= 2 && node.State != ExecutorState.Starting;
            }
            if (lose)
            {
                Lose(node, $"it did not answer two polls: {e.Message}");
            }
            return;
        }
        List<Executor>? touched = null;
        lock (scheduler.Gate)
        {
            if (!_nodes.TryGetValue(node.Address, out NodeExecutor? current) || current != node)
            {
                return;
            }
            node.Update(status);
            int resent = node.Reconcile(status, askedAt, Interlocked.Read(ref _routeLostAt), askedAt - _responseTimeoutTicks);
            if (resent > 0)
            {
                Interlocked.Add(ref _callsSentAgain, resent);
                (touched ??= []).Add(node);
            }
            if (node.State == ExecutorState.Starting && status.Workers > 0)
            {
                scheduler.Add(node);
                scheduler.MarkReady(node);
                touched = scheduler.AssignAll();
                (touched ??= []).Add(node);
            }
            else if (node.State == ExecutorState.Ready)
            {
                // Its capacity follows its worker count.
                scheduler.Assign(node);
                (touched ??= []).Add(node);
            }
        }
        Scheduler.Flush(touched);
    }

    /// <summary>A node is gone: the chunks it held run elsewhere, each up to MaxRetries more times.</summary>
    public void Lose(NodeExecutor node, string why)
    {
        var failed = new List<(WorkItem Item, Exception Error)>();
        List<Executor>? touched;
        lock (scheduler.Gate)
        {
            if (!_nodes.TryGetValue(node.Address, out NodeExecutor? current) || current != node)
            {
                return;
            }
            _nodes.Remove(node.Address);
            RouteLost();
            node.AbandonCalls();
            if (node.State == ExecutorState.Starting)
            {
                return;
            }
            scheduler.Lost(node, item =>
                ++item.Attempts > options.MaxRetries
                    ? new NodeUnavailableException($"{item.Method.Method.DisplayName} was running on {item.Attempts} nodes that were all lost before it finished (MaxRetries is {options.MaxRetries}); the last, {node.Name}, was lost because {why}.")
                    : null,
                failed);
            touched = scheduler.AssignAll();
        }
        node.Flush();
        scheduler.ReportFailed(failed);
        Scheduler.Flush(touched);
    }

    /// <summary>With no node for NodeWaitTimeout, what waits for one fails; later work waits again.</summary>
    private void CheckNoNode()
    {
        bool fail;
        lock (scheduler.Gate)
        {
            if (scheduler.Executors.Count > 0)
            {
                _noNodeSince = Stopwatch.GetTimestamp();
                return;
            }
            fail = Stopwatch.GetElapsedTime(_noNodeSince) > options.NodeWaitTimeout && scheduler.HasQueuedWork;
        }
        if (fail)
        {
            scheduler.FailWaiting(new NodeUnavailableException(
                $"No node of cluster '{options.ClusterId}' was available for {options.NodeWaitTimeout.TotalSeconds:0.#} s ({ClusterPool.Describe(options)}): every node has left or died, or none has joined. Start nodes with 'mp node', or raise ClusterPoolOptions.NodeWaitTimeout."));
        }
    }

    /// <summary>Waits until at least one node takes work.</summary>
    private async Task WaitForNodeAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            Task changed;
            lock (scheduler.Gate)
            {
                if (scheduler.Executors.Count > 0)
                {
                    return;
                }
                changed = scheduler.ExecutorsChanged;
            }
            await changed.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }
}
