namespace Multiprocessing;

/// <summary>
/// What every pool offers, whatever runs its work: <see cref="ProcessPool"/> on this machine's worker
/// processes, or a pool over the nodes of a cluster. A program moves from one machine to many by
/// changing the line that creates the pool; the calls, their validation and their exceptions are the
/// same.
/// </summary>
/// <remarks>
/// A task is a static method, or a lambda that captures nothing, plus an argument; the method travels by
/// name and the argument and result are serialised. An argument that cannot travel is refused at the
/// call; a task that throws gives <see cref="WorkerException"/>; a task whose worker dies gives
/// <see cref="WorkerCrashedException"/>.
/// </remarks>
public interface IProcessPool : IAsyncDisposable, IDisposable
{
    /// <summary>Runs one task on a worker and returns its result.</summary>
    /// <typeparam name="T">The argument type.</typeparam>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="func">A static method, or a lambda that captures nothing.</param>
    /// <param name="argument">The argument; it is serialised.</param>
    /// <param name="cancellationToken">Cancels the call: queued work is dropped and running work is asked to stop.</param>
    /// <returns>The task's outcome.</returns>
    Task<TResult> SubmitAsync<T, TResult>(Func<T, TResult> func, T argument, CancellationToken cancellationToken = default);

    /// <summary>Runs one task on a worker and returns its result.</summary>
    /// <typeparam name="T">The argument type.</typeparam>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="func">A static method, or a lambda that captures nothing.</param>
    /// <param name="argument">The argument; it is serialised.</param>
    /// <param name="cancellationToken">Cancels the call: queued work is dropped and running work is asked to stop.</param>
    /// <returns>The task's outcome.</returns>
    Task<TResult> SubmitAsync<T, TResult>(Func<T, Task<TResult>> func, T argument, CancellationToken cancellationToken = default);

    /// <summary>Runs one task on a worker and returns its result.</summary>
    /// <typeparam name="T">The argument type.</typeparam>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="func">A static method, or a lambda that captures nothing.</param>
    /// <param name="argument">The argument; it is serialised.</param>
    /// <param name="cancellationToken">Cancels the call: queued work is dropped and running work is asked to stop.</param>
    /// <returns>The task's outcome.</returns>
    Task<TResult> SubmitAsync<T, TResult>(Func<T, ValueTask<TResult>> func, T argument, CancellationToken cancellationToken = default);

    /// <summary>Runs one task on a worker and returns its result.</summary>
    /// <typeparam name="T">The argument type.</typeparam>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="func">A static method, or a lambda that captures nothing.</param>
    /// <param name="argument">The argument; it is serialised.</param>
    /// <param name="cancellationToken">Cancels the call: queued work is dropped and running work is asked to stop.</param>
    /// <returns>The task's outcome.</returns>
    Task<TResult> SubmitAsync<T, TResult>(Func<T, CancellationToken, TResult> func, T argument, CancellationToken cancellationToken = default);

    /// <summary>Runs one task on a worker and returns its result.</summary>
    /// <typeparam name="T">The argument type.</typeparam>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="func">A static method, or a lambda that captures nothing.</param>
    /// <param name="argument">The argument; it is serialised.</param>
    /// <param name="cancellationToken">Cancels the call: queued work is dropped and running work is asked to stop.</param>
    /// <returns>The task's outcome.</returns>
    Task<TResult> SubmitAsync<T, TResult>(Func<T, CancellationToken, Task<TResult>> func, T argument, CancellationToken cancellationToken = default);

    /// <summary>Runs one task on a worker and returns its result.</summary>
    /// <typeparam name="T">The argument type.</typeparam>
    /// <param name="action">A static method, or a lambda that captures nothing.</param>
    /// <param name="argument">The argument; it is serialised.</param>
    /// <param name="cancellationToken">Cancels the call: queued work is dropped and running work is asked to stop.</param>
    /// <returns>The task's outcome.</returns>
    Task SubmitAsync<T>(Action<T> action, T argument, CancellationToken cancellationToken = default);

    /// <summary>Runs one task on a worker and returns its result.</summary>
    /// <typeparam name="T">The argument type.</typeparam>
    /// <param name="action">A static method, or a lambda that captures nothing.</param>
    /// <param name="argument">The argument; it is serialised.</param>
    /// <param name="cancellationToken">Cancels the call: queued work is dropped and running work is asked to stop.</param>
    /// <returns>The task's outcome.</returns>
    Task SubmitAsync<T>(Func<T, Task> action, T argument, CancellationToken cancellationToken = default);

    /// <summary>Runs one task on a worker and returns its result.</summary>
    /// <typeparam name="T">The argument type.</typeparam>
    /// <param name="action">A static method, or a lambda that captures nothing.</param>
    /// <param name="argument">The argument; it is serialised.</param>
    /// <param name="cancellationToken">Cancels the call: queued work is dropped and running work is asked to stop.</param>
    /// <returns>The task's outcome.</returns>
    Task SubmitAsync<T>(Action<T, CancellationToken> action, T argument, CancellationToken cancellationToken = default);

    /// <summary>Runs one task on a worker and returns its result.</summary>
    /// <typeparam name="T">The argument type.</typeparam>
    /// <param name="action">A static method, or a lambda that captures nothing.</param>
    /// <param name="argument">The argument; it is serialised.</param>
    /// <param name="cancellationToken">Cancels the call: queued work is dropped and running work is asked to stop.</param>
    /// <returns>The task's outcome.</returns>
    Task SubmitAsync<T>(Func<T, CancellationToken, Task> action, T argument, CancellationToken cancellationToken = default);

    /// <summary>Runs one task on a worker and returns its result.</summary>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="func">A static method, or a lambda that captures nothing.</param>
    /// <param name="cancellationToken">Cancels the call: queued work is dropped and running work is asked to stop.</param>
    /// <returns>The task's outcome.</returns>
    Task<TResult> SubmitAsync<TResult>(Func<TResult> func, CancellationToken cancellationToken = default);

    /// <summary>Runs one task on a worker and returns its result.</summary>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="func">A static method, or a lambda that captures nothing.</param>
    /// <param name="cancellationToken">Cancels the call: queued work is dropped and running work is asked to stop.</param>
    /// <returns>The task's outcome.</returns>
    Task<TResult> SubmitAsync<TResult>(Func<Task<TResult>> func, CancellationToken cancellationToken = default);

    /// <summary>Runs the method on every item, spread over the workers in chunks, and returns the results in input order.</summary>
    /// <typeparam name="T">The argument type.</typeparam>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="func">A static method, or a lambda that captures nothing.</param>
    /// <param name="items">The input; read lazily, as the look-ahead allows.</param>
    /// <param name="options">Chunk size, look-ahead, ordering; null for the defaults.</param>
    /// <param name="cancellationToken">Cancels the call: queued work is dropped and running work is asked to stop.</param>
    /// <returns>The results.</returns>
    Task<TResult[]> MapAsync<T, TResult>(Func<T, TResult> func, IEnumerable<T> items, MapOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>Runs the method on every item, spread over the workers in chunks, and returns the results in input order.</summary>
    /// <typeparam name="T">The argument type.</typeparam>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="func">A static method, or a lambda that captures nothing.</param>
    /// <param name="items">The input; read lazily, as the look-ahead allows.</param>
    /// <param name="options">Chunk size, look-ahead, ordering; null for the defaults.</param>
    /// <param name="cancellationToken">Cancels the call: queued work is dropped and running work is asked to stop.</param>
    /// <returns>The results.</returns>
    Task<TResult[]> MapAsync<T, TResult>(Func<T, Task<TResult>> func, IEnumerable<T> items, MapOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>Runs the method on every item, spread over the workers in chunks, and returns the results in input order.</summary>
    /// <typeparam name="T">The argument type.</typeparam>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="func">A static method, or a lambda that captures nothing.</param>
    /// <param name="items">The input; read lazily, as the look-ahead allows.</param>
    /// <param name="options">Chunk size, look-ahead, ordering; null for the defaults.</param>
    /// <param name="cancellationToken">Cancels the call: queued work is dropped and running work is asked to stop.</param>
    /// <returns>The results.</returns>
    Task<TResult[]> MapAsync<T, TResult>(Func<T, ValueTask<TResult>> func, IEnumerable<T> items, MapOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>Runs the method on every item, spread over the workers in chunks, and returns the results in input order.</summary>
    /// <typeparam name="T">The argument type.</typeparam>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="func">A static method, or a lambda that captures nothing.</param>
    /// <param name="items">The input; read lazily, as the look-ahead allows.</param>
    /// <param name="options">Chunk size, look-ahead, ordering; null for the defaults.</param>
    /// <param name="cancellationToken">Cancels the call: queued work is dropped and running work is asked to stop.</param>
    /// <returns>The results.</returns>
    Task<TResult[]> MapAsync<T, TResult>(Func<T, CancellationToken, TResult> func, IEnumerable<T> items, MapOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>Runs the method on every item, spread over the workers in chunks, and returns the results in input order.</summary>
    /// <typeparam name="T">The argument type.</typeparam>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="func">A static method, or a lambda that captures nothing.</param>
    /// <param name="items">The input; read lazily, as the look-ahead allows.</param>
    /// <param name="options">Chunk size, look-ahead, ordering; null for the defaults.</param>
    /// <param name="cancellationToken">Cancels the call: queued work is dropped and running work is asked to stop.</param>
    /// <returns>The results.</returns>
    Task<TResult[]> MapAsync<T, TResult>(Func<T, CancellationToken, Task<TResult>> func, IEnumerable<T> items, MapOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>Runs the method on every item, spread over the workers in chunks, and returns the results in input order.</summary>
    /// <typeparam name="T">The argument type.</typeparam>
    /// <param name="action">A static method, or a lambda that captures nothing.</param>
    /// <param name="items">The input; read lazily, as the look-ahead allows.</param>
    /// <param name="options">Chunk size, look-ahead, ordering; null for the defaults.</param>
    /// <param name="cancellationToken">Cancels the call: queued work is dropped and running work is asked to stop.</param>
    /// <returns>The results.</returns>
    Task MapAsync<T>(Action<T> action, IEnumerable<T> items, MapOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>Runs the method on every item, spread over the workers in chunks, and returns the results in input order.</summary>
    /// <typeparam name="T">The argument type.</typeparam>
    /// <param name="action">A static method, or a lambda that captures nothing.</param>
    /// <param name="items">The input; read lazily, as the look-ahead allows.</param>
    /// <param name="options">Chunk size, look-ahead, ordering; null for the defaults.</param>
    /// <param name="cancellationToken">Cancels the call: queued work is dropped and running work is asked to stop.</param>
    /// <returns>The results.</returns>
    Task MapAsync<T>(Func<T, Task> action, IEnumerable<T> items, MapOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>Runs the method on every item, spread over the workers in chunks, and returns the results in input order.</summary>
    /// <typeparam name="T">The argument type.</typeparam>
    /// <param name="action">A static method, or a lambda that captures nothing.</param>
    /// <param name="items">The input; read lazily, as the look-ahead allows.</param>
    /// <param name="options">Chunk size, look-ahead, ordering; null for the defaults.</param>
    /// <param name="cancellationToken">Cancels the call: queued work is dropped and running work is asked to stop.</param>
    /// <returns>The results.</returns>
    Task MapAsync<T>(Action<T, CancellationToken> action, IEnumerable<T> items, MapOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>The blocking twin of MapAsync: runs the method on every item and returns the results in input order.</summary>
    /// <typeparam name="T">The argument type.</typeparam>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="func">A static method, or a lambda that captures nothing.</param>
    /// <param name="items">The input; read lazily, as the look-ahead allows.</param>
    /// <param name="options">Chunk size, look-ahead, ordering; null for the defaults.</param>
    /// <param name="cancellationToken">Cancels the call: queued work is dropped and running work is asked to stop.</param>
    /// <returns>The results.</returns>
    TResult[] Map<T, TResult>(Func<T, TResult> func, IEnumerable<T> items, MapOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>The blocking twin of MapAsync: runs the method on every item and returns the results in input order.</summary>
    /// <typeparam name="T">The argument type.</typeparam>
    /// <param name="action">A static method, or a lambda that captures nothing.</param>
    /// <param name="items">The input; read lazily, as the look-ahead allows.</param>
    /// <param name="options">Chunk size, look-ahead, ordering; null for the defaults.</param>
    /// <param name="cancellationToken">Cancels the call: queued work is dropped and running work is asked to stop.</param>
    void Map<T>(Action<T> action, IEnumerable<T> items, MapOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>Runs the method on every item and yields the results as they come, with bounded look-ahead: in input order unless <see cref="MapOptions.Ordered"/> is false.</summary>
    /// <typeparam name="T">The argument type.</typeparam>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="func">A static method, or a lambda that captures nothing.</param>
    /// <param name="items">The input; read lazily, as the look-ahead allows.</param>
    /// <param name="options">Chunk size, look-ahead, ordering; null for the defaults.</param>
    /// <param name="cancellationToken">Cancels the call: queued work is dropped and running work is asked to stop.</param>
    /// <returns>The results.</returns>
    IAsyncEnumerable<TResult> MapStreamAsync<T, TResult>(Func<T, TResult> func, IEnumerable<T> items, MapOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>Runs the method on every item and yields the results as they come, with bounded look-ahead: in input order unless <see cref="MapOptions.Ordered"/> is false.</summary>
    /// <typeparam name="T">The argument type.</typeparam>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="func">A static method, or a lambda that captures nothing.</param>
    /// <param name="items">The input; read lazily, as the look-ahead allows.</param>
    /// <param name="options">Chunk size, look-ahead, ordering; null for the defaults.</param>
    /// <param name="cancellationToken">Cancels the call: queued work is dropped and running work is asked to stop.</param>
    /// <returns>The results.</returns>
    IAsyncEnumerable<TResult> MapStreamAsync<T, TResult>(Func<T, Task<TResult>> func, IEnumerable<T> items, MapOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>Runs the method on every item and yields the results as they come, with bounded look-ahead: in input order unless <see cref="MapOptions.Ordered"/> is false.</summary>
    /// <typeparam name="T">The argument type.</typeparam>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="func">A static method, or a lambda that captures nothing.</param>
    /// <param name="items">The input; read lazily, as the look-ahead allows.</param>
    /// <param name="options">Chunk size, look-ahead, ordering; null for the defaults.</param>
    /// <param name="cancellationToken">Cancels the call: queued work is dropped and running work is asked to stop.</param>
    /// <returns>The results.</returns>
    IAsyncEnumerable<TResult> MapStreamAsync<T, TResult>(Func<T, CancellationToken, TResult> func, IEnumerable<T> items, MapOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>Runs the method on every item and yields the results as they come, with bounded look-ahead: in input order unless <see cref="MapOptions.Ordered"/> is false.</summary>
    /// <typeparam name="T">The argument type.</typeparam>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="func">A static method, or a lambda that captures nothing.</param>
    /// <param name="items">The input; read lazily, as the look-ahead allows.</param>
    /// <param name="options">Chunk size, look-ahead, ordering; null for the defaults.</param>
    /// <param name="cancellationToken">Cancels the call: queued work is dropped and running work is asked to stop.</param>
    /// <returns>The results.</returns>
    IAsyncEnumerable<TResult> MapStreamAsync<T, TResult>(Func<T, TResult> func, IAsyncEnumerable<T> items, MapOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>Runs the method on every item and yields the results as they come, with bounded look-ahead: in input order unless <see cref="MapOptions.Ordered"/> is false.</summary>
    /// <typeparam name="T">The argument type.</typeparam>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="func">A static method, or a lambda that captures nothing.</param>
    /// <param name="items">The input; read lazily, as the look-ahead allows.</param>
    /// <param name="options">Chunk size, look-ahead, ordering; null for the defaults.</param>
    /// <param name="cancellationToken">Cancels the call: queued work is dropped and running work is asked to stop.</param>
    /// <returns>The results.</returns>
    IAsyncEnumerable<TResult> MapStreamAsync<T, TResult>(Func<T, Task<TResult>> func, IAsyncEnumerable<T> items, MapOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>Takes no new work, lets every task already submitted finish, then stops the pool.</summary>
    /// <param name="cancellationToken">Stops waiting for the work and disposes the pool instead.</param>
    /// <returns>A task that completes when the pool has stopped.</returns>
    Task CloseAsync(CancellationToken cancellationToken = default);

    /// <summary>The blocking twin of <see cref="CloseAsync"/>.</summary>
    /// <param name="cancellationToken">Stops waiting for the work and disposes the pool instead.</param>
    void Close(CancellationToken cancellationToken = default);
}
