using Multiprocessing;

namespace XunitSample;

/// <summary>
/// One pool shared by the tests of a class: starting worker processes costs tens of
/// milliseconds, so a test class starts them once. xunit disposes the fixture after the class.
/// </summary>
/// <remarks>
/// Nothing else is needed to use a pool from a test assembly: workers start with the test
/// project's own runtime config and dependency manifest (as the test host does), load this
/// assembly and call the static method by name.
/// </remarks>
public sealed class PoolFixture : IAsyncLifetime
{
    public ProcessPool Pool { get; } = new(new ProcessPoolOptions { Workers = 2 });

    public Task InitializeAsync() => Pool.WaitForWorkersAsync();

    public Task DisposeAsync() => Pool.DisposeAsync().AsTask();
}
