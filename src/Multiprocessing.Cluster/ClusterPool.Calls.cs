using System.Runtime.Serialization;
using Multiprocessing.Serialization;

namespace Multiprocessing.Cluster;

// The calls, as ProcessPool offers them: every overload forwards to the front end both pools share,
// so validation, encoding, chunking, streaming and cancellation are the same code on one machine and
// on many.
public sealed partial class ClusterPool
{
    // ----- Submit -----

    /// <summary>Runs <paramref name="func"/>(<paramref name="argument"/>) in a worker.</summary>
    /// <typeparam name="T">The argument type.</typeparam>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="func">A static method, or a lambda that captures nothing.</param>
    /// <param name="argument">Serialised and sent to the worker.</param>
    /// <param name="cancellationToken">Cancels the task: the returned task is cancelled at once; the worker's token (if the method takes one) is cancelled.</param>
    /// <returns>The method's result.</returns>
    /// <exception cref="ArgumentException">The delegate captures state or its types cannot cross a process boundary.</exception>
    /// <exception cref="InvalidOperationException">The pool is closing (<see cref="CloseAsync"/> was called).</exception>
    /// <exception cref="SerializationException">The argument cannot be serialised.</exception>
    /// <exception cref="WorkerException">The method threw (in the returned task).</exception>
    /// <exception cref="WorkerCrashedException">The worker died while running it (in the returned task).</exception>
    /// <exception cref="TimeoutException">It ran longer than <see cref="ClusterPoolOptions.NodeWaitTimeout"/> (in the returned task).</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public Task<TResult> SubmitAsync<T, TResult>(Func<T, TResult> func, T argument, CancellationToken cancellationToken = default) =>
        Front<T, TResult>().Submit<T, TResult>(func, Checked(argument), cancellationToken);

    /// <inheritdoc cref="SubmitAsync{T, TResult}(Func{T, TResult}, T, CancellationToken)"/>
    public Task<TResult> SubmitAsync<T, TResult>(Func<T, Task<TResult>> func, T argument, CancellationToken cancellationToken = default) =>
        Front<T, TResult>().Submit<T, TResult>(func, Checked(argument), cancellationToken);

    /// <inheritdoc cref="SubmitAsync{T, TResult}(Func{T, TResult}, T, CancellationToken)"/>
    public Task<TResult> SubmitAsync<T, TResult>(Func<T, ValueTask<TResult>> func, T argument, CancellationToken cancellationToken = default) =>
        Front<T, TResult>().Submit<T, TResult>(func, Checked(argument), cancellationToken);

    /// <inheritdoc cref="SubmitAsync{T, TResult}(Func{T, TResult}, T, CancellationToken)"/>
    public Task<TResult> SubmitAsync<T, TResult>(Func<T, CancellationToken, TResult> func, T argument, CancellationToken cancellationToken = default) =>
        Front<T, TResult>().Submit<T, TResult>(func, Checked(argument), cancellationToken);

    /// <inheritdoc cref="SubmitAsync{T, TResult}(Func{T, TResult}, T, CancellationToken)"/>
    public Task<TResult> SubmitAsync<T, TResult>(Func<T, CancellationToken, Task<TResult>> func, T argument, CancellationToken cancellationToken = default) =>
        Front<T, TResult>().Submit<T, TResult>(func, Checked(argument), cancellationToken);

    /// <summary>Runs <paramref name="action"/>(<paramref name="argument"/>) in a worker.</summary>
    /// <typeparam name="T">The argument type.</typeparam>
    /// <param name="action">A static method, or a lambda that captures nothing.</param>
    /// <param name="argument">Serialised and sent to the worker.</param>
    /// <param name="cancellationToken">Cancels the task.</param>
    /// <returns>A task that completes when the method has run.</returns>
    /// <exception cref="ArgumentException">The delegate captures state or its types cannot cross a process boundary.</exception>
    /// <exception cref="InvalidOperationException">The pool is closing (<see cref="CloseAsync"/> was called).</exception>
    /// <exception cref="SerializationException">The argument cannot be serialised.</exception>
    public Task SubmitAsync<T>(Action<T> action, T argument, CancellationToken cancellationToken = default) =>
        Front<T, Unit>().Submit<T, Unit>(action, Checked(argument), cancellationToken);

    /// <inheritdoc cref="SubmitAsync{T}(Action{T}, T, CancellationToken)"/>
    public Task SubmitAsync<T>(Func<T, Task> action, T argument, CancellationToken cancellationToken = default) =>
        Front<T, Unit>().Submit<T, Unit>(action, Checked(argument), cancellationToken);

    /// <inheritdoc cref="SubmitAsync{T}(Action{T}, T, CancellationToken)"/>
    public Task SubmitAsync<T>(Action<T, CancellationToken> action, T argument, CancellationToken cancellationToken = default) =>
        Front<T, Unit>().Submit<T, Unit>(action, Checked(argument), cancellationToken);

    /// <inheritdoc cref="SubmitAsync{T}(Action{T}, T, CancellationToken)"/>
    public Task SubmitAsync<T>(Func<T, CancellationToken, Task> action, T argument, CancellationToken cancellationToken = default) =>
        Front<T, Unit>().Submit<T, Unit>(action, Checked(argument), cancellationToken);

    /// <summary>Runs <paramref name="func"/>() in a worker.</summary>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="func">A static method, or a lambda that captures nothing.</param>
    /// <param name="cancellationToken">Cancels the task.</param>
    /// <returns>The method's result.</returns>
    /// <exception cref="ArgumentException">The delegate captures state or its result type cannot cross a process boundary.</exception>
    /// <exception cref="InvalidOperationException">The pool is closing (<see cref="CloseAsync"/> was called).</exception>
    public Task<TResult> SubmitAsync<TResult>(Func<TResult> func, CancellationToken cancellationToken = default) =>
        Front<NoArgument, TResult>().Submit<NoArgument, TResult>(func, default, cancellationToken);

    /// <inheritdoc cref="SubmitAsync{TResult}(Func{TResult}, CancellationToken)"/>
    public Task<TResult> SubmitAsync<TResult>(Func<Task<TResult>> func, CancellationToken cancellationToken = default) =>
        Front<NoArgument, TResult>().Submit<NoArgument, TResult>(func, default, cancellationToken);

    // ----- Map -----

    /// <summary>
    /// Runs <paramref name="func"/> on every item in the workers and returns the results in input
    /// order, like Python's <c>Pool.map</c>. Items are sent in chunks (see <see cref="MapOptions.ChunkSize"/>).
    /// </summary>
    /// <typeparam name="T">The item type.</typeparam>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="func">A static method, or a lambda that captures nothing.</param>
    /// <param name="items">
    /// The input; read lazily, at most <see cref="MapOptions.LookAhead"/> items ahead. If it throws, the items
    /// read before then still run, and the map then fails with the input's exception.
    /// </param>
    /// <param name="options">Chunk size, look-ahead and progress.</param>
    /// <param name="cancellationToken">Cancels the map: the task is cancelled at once and running chunks are cancelled in the workers.</param>
    /// <returns>One result per item, in input order.</returns>
    /// <exception cref="ArgumentException">The delegate captures state or its types cannot cross a process boundary.</exception>
    /// <exception cref="InvalidOperationException">The pool is closing (<see cref="CloseAsync"/> was called).</exception>
    /// <exception cref="WorkerException">A task threw; <see cref="WorkerException.ItemIndex"/> says which item (in the returned task).</exception>
    /// <exception cref="WorkerCrashedException">A worker died while running an item (in the returned task).</exception>
    /// <exception cref="SerializationException">An item or result cannot be serialised (in the returned task).</exception>
    public Task<TResult[]> MapAsync<T, TResult>(Func<T, TResult> func, IEnumerable<T> items, MapOptions? options = null, CancellationToken cancellationToken = default) =>
        Front<T, TResult>().Map<T, TResult>(func, Checked(items), options, cancellationToken);

    /// <inheritdoc cref="MapAsync{T, TResult}(Func{T, TResult}, IEnumerable{T}, MapOptions?, CancellationToken)"/>
    public Task<TResult[]> MapAsync<T, TResult>(Func<T, Task<TResult>> func, IEnumerable<T> items, MapOptions? options = null, CancellationToken cancellationToken = default) =>
        Front<T, TResult>().Map<T, TResult>(func, Checked(items), options, cancellationToken);

    /// <inheritdoc cref="MapAsync{T, TResult}(Func{T, TResult}, IEnumerable{T}, MapOptions?, CancellationToken)"/>
    public Task<TResult[]> MapAsync<T, TResult>(Func<T, ValueTask<TResult>> func, IEnumerable<T> items, MapOptions? options = null, CancellationToken cancellationToken = default) =>
        Front<T, TResult>().Map<T, TResult>(func, Checked(items), options, cancellationToken);

    /// <inheritdoc cref="MapAsync{T, TResult}(Func{T, TResult}, IEnumerable{T}, MapOptions?, CancellationToken)"/>
    public Task<TResult[]> MapAsync<T, TResult>(Func<T, CancellationToken, TResult> func, IEnumerable<T> items, MapOptions? options = null, CancellationToken cancellationToken = default) =>
        Front<T, TResult>().Map<T, TResult>(func, Checked(items), options, cancellationToken);

    /// <inheritdoc cref="MapAsync{T, TResult}(Func{T, TResult}, IEnumerable{T}, MapOptions?, CancellationToken)"/>
    public Task<TResult[]> MapAsync<T, TResult>(Func<T, CancellationToken, Task<TResult>> func, IEnumerable<T> items, MapOptions? options = null, CancellationToken cancellationToken = default) =>
        Front<T, TResult>().Map<T, TResult>(func, Checked(items), options, cancellationToken);

    /// <summary>Runs <paramref name="action"/> on every item in the workers; completes when all have run.</summary>
    /// <typeparam name="T">The item type.</typeparam>
    /// <param name="action">A static method, or a lambda that captures nothing.</param>
    /// <param name="items">The input; read lazily.</param>
    /// <param name="options">Chunk size, look-ahead and progress.</param>
    /// <param name="cancellationToken">Cancels the map.</param>
    /// <returns>A task that completes when every item has been processed.</returns>
    /// <exception cref="ArgumentException">The delegate captures state or its types cannot cross a process boundary.</exception>
    /// <exception cref="InvalidOperationException">The pool is closing (<see cref="CloseAsync"/> was called).</exception>
    public Task MapAsync<T>(Action<T> action, IEnumerable<T> items, MapOptions? options = null, CancellationToken cancellationToken = default) =>
        Front<T, Unit>().Map<T, Unit>(action, Checked(items), options, cancellationToken);

    /// <inheritdoc cref="MapAsync{T}(Action{T}, IEnumerable{T}, MapOptions?, CancellationToken)"/>
    public Task MapAsync<T>(Func<T, Task> action, IEnumerable<T> items, MapOptions? options = null, CancellationToken cancellationToken = default) =>
        Front<T, Unit>().Map<T, Unit>(action, Checked(items), options, cancellationToken);

    /// <inheritdoc cref="MapAsync{T}(Action{T}, IEnumerable{T}, MapOptions?, CancellationToken)"/>
    public Task MapAsync<T>(Action<T, CancellationToken> action, IEnumerable<T> items, MapOptions? options = null, CancellationToken cancellationToken = default) =>
        Front<T, Unit>().Map<T, Unit>(action, Checked(items), options, cancellationToken);

    /// <summary>The blocking twin of <see cref="MapAsync{T, TResult}(Func{T, TResult}, IEnumerable{T}, MapOptions?, CancellationToken)"/>.</summary>
    /// <typeparam name="T">The item type.</typeparam>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="func">A static method, or a lambda that captures nothing.</param>
    /// <param name="items">The input.</param>
    /// <param name="options">Chunk size, look-ahead and progress.</param>
    /// <param name="cancellationToken">Cancels the map.</param>
    /// <returns>One result per item, in input order.</returns>
    /// <exception cref="ArgumentException">The delegate captures state or its types cannot cross a process boundary.</exception>
    /// <exception cref="InvalidOperationException">The pool is closing (<see cref="CloseAsync"/> was called).</exception>
    /// <exception cref="WorkerException">A task threw.</exception>
    /// <exception cref="WorkerCrashedException">A worker died while running an item.</exception>
    public TResult[] Map<T, TResult>(Func<T, TResult> func, IEnumerable<T> items, MapOptions? options = null, CancellationToken cancellationToken = default) =>
        Front<T, TResult>().Map<T, TResult>(func, Checked(items), options, cancellationToken).GetAwaiter().GetResult();

    /// <summary>The blocking twin of <see cref="MapAsync{T}(Action{T}, IEnumerable{T}, MapOptions?, CancellationToken)"/>.</summary>
    /// <typeparam name="T">The item type.</typeparam>
    /// <param name="action">A static method, or a lambda that captures nothing.</param>
    /// <param name="items">The input.</param>
    /// <param name="options">Chunk size, look-ahead and progress.</param>
    /// <param name="cancellationToken">Cancels the map.</param>
    /// <exception cref="ArgumentException">The delegate captures state or its types cannot cross a process boundary.</exception>
    /// <exception cref="InvalidOperationException">The pool is closing (<see cref="CloseAsync"/> was called).</exception>
    /// <exception cref="WorkerException">A task threw.</exception>
    public void Map<T>(Action<T> action, IEnumerable<T> items, MapOptions? options = null, CancellationToken cancellationToken = default) =>
        Front<T, Unit>().Map<T, Unit>(action, Checked(items), options, cancellationToken).GetAwaiter().GetResult();

    // ----- Streaming map -----

    /// <summary>
    /// Runs <paramref name="func"/> on every item and yields results as they are ready, in input order
    /// (<see cref="MapOptions.Ordered"/>, the default) or as they finish, like Python's <c>imap</c> and
    /// <c>imap_unordered</c>. The input is read lazily with a bounded look-ahead, so an endless input
    /// works and memory stays flat. Leaving the loop early cancels the rest. If the input throws (or
    /// an item cannot be sent), the results of every item before it are yielded first, then that exception.
    /// </summary>
    /// <typeparam name="T">The item type.</typeparam>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="func">A static method, or a lambda that captures nothing.</param>
    /// <param name="items">The input.</param>
    /// <param name="options">Order, chunk size, look-ahead and progress.</param>
    /// <param name="cancellationToken">Cancels the map.</param>
    /// <returns>The results.</returns>
    /// <exception cref="ArgumentException">The delegate captures state or its types cannot cross a process boundary.</exception>
    /// <exception cref="InvalidOperationException">The pool is closing (<see cref="CloseAsync"/> was called).</exception>
    /// <exception cref="WorkerException">A task threw (when its result is reached).</exception>
    public IAsyncEnumerable<TResult> MapStreamAsync<T, TResult>(Func<T, TResult> func, IEnumerable<T> items, MapOptions? options = null, CancellationToken cancellationToken = default) =>
        Front<T, TResult>().Stream<T, TResult>(func, Checked(items), null, options, cancellationToken);

    /// <inheritdoc cref="MapStreamAsync{T, TResult}(Func{T, TResult}, IEnumerable{T}, MapOptions?, CancellationToken)"/>
    public IAsyncEnumerable<TResult> MapStreamAsync<T, TResult>(Func<T, Task<TResult>> func, IEnumerable<T> items, MapOptions? options = null, CancellationToken cancellationToken = default) =>
        Front<T, TResult>().Stream<T, TResult>(func, Checked(items), null, options, cancellationToken);

    /// <inheritdoc cref="MapStreamAsync{T, TResult}(Func{T, TResult}, IEnumerable{T}, MapOptions?, CancellationToken)"/>
    public IAsyncEnumerable<TResult> MapStreamAsync<T, TResult>(Func<T, CancellationToken, TResult> func, IEnumerable<T> items, MapOptions? options = null, CancellationToken cancellationToken = default) =>
        Front<T, TResult>().Stream<T, TResult>(func, Checked(items), null, options, cancellationToken);

    /// <inheritdoc cref="MapStreamAsync{T, TResult}(Func{T, TResult}, IEnumerable{T}, MapOptions?, CancellationToken)"/>
    public IAsyncEnumerable<TResult> MapStreamAsync<T, TResult>(Func<T, TResult> func, IAsyncEnumerable<T> items, MapOptions? options = null, CancellationToken cancellationToken = default) =>
        Front<T, TResult>().Stream<T, TResult>(func, null, Checked(items), options, cancellationToken);

    /// <inheritdoc cref="MapStreamAsync{T, TResult}(Func{T, TResult}, IEnumerable{T}, MapOptions?, CancellationToken)"/>
    public IAsyncEnumerable<TResult> MapStreamAsync<T, TResult>(Func<T, Task<TResult>> func, IAsyncEnumerable<T> items, MapOptions? options = null, CancellationToken cancellationToken = default) =>
        Front<T, TResult>().Stream<T, TResult>(func, null, Checked(items), options, cancellationToken);


    /// <summary>The shared front end, once the types are known to cross machines: shared objects are refused here, at the call.</summary>
    private Multiprocessing.Pool.TaskFrontEnd Front<T, TResult>()
    {
        Client.ClusterTypes.RefuseShared(typeof(T), typeof(TResult), "func");
        return _front;
    }

    /// <summary>Registers the read-only shared arrays an argument holds (sent to each node once) and refuses writable ones, at the call.</summary>
    private T Checked<T>(T argument)
    {
        Client.ClusterTypes.Visit(argument, "argument", _shared, nameof(argument));
        return argument;
    }

    /// <summary>
    /// The same for a map's items: a collection is looked through at the call, so a writable array
    /// is refused there; a lazy input is looked through as it is read, and a refusal ends the map
    /// as an input that throws does.
    /// </summary>
    private IEnumerable<T> Checked<T>(IEnumerable<T> items)
    {
        if (items is null || !Client.ClusterTypes.MayHoldShared(typeof(T)))
        {
            return items!;
        }
        if (items is IReadOnlyCollection<T> or System.Collections.ICollection)
        {
            Client.ClusterTypes.Visit(items, "items", _shared, nameof(items));
            return items;
        }
        return Lazily(items);

        IEnumerable<T> Lazily(IEnumerable<T> source)
        {
            long i = 0;
            foreach (T item in source)
            {
                Client.ClusterTypes.Visit(item, $"items[{i++}]", _shared, nameof(items));
                yield return item;
            }
        }
    }

    /// <inheritdoc cref="Checked{T}(IEnumerable{T})"/>
    private IAsyncEnumerable<T> Checked<T>(IAsyncEnumerable<T> items)
    {
        if (items is null || !Client.ClusterTypes.MayHoldShared(typeof(T)))
        {
            return items!;
        }
        return Lazily(items);

        async IAsyncEnumerable<T> Lazily(IAsyncEnumerable<T> source, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            long i = 0;
            await foreach (T item in source.WithCancellation(cancellationToken).ConfigureAwait(false))
            {
                Client.ClusterTypes.Visit(item, $"items[{i++}]", _shared, nameof(items));
                yield return item;
            }
        }
    }
}
