using System.Runtime.Serialization;

namespace Multiprocessing.Tests.Pool;

/// <summary>
/// One owner of the task wire format: the same fault in an argument gives the same exception, with
/// the same reason and fix, whether it came through SubmitAsync, MapAsync or WorkerProcess.Start.
/// </summary>
public sealed class WireFormatTests
{
    [Fact]
    public async Task ArgumentThatCannotBeWritten_SameExceptionAndWording_FromSubmitMapAndWorkerProcess()
    {
        await using var pool = new ProcessPool(new ProcessPoolOptions { Workers = 1 });
        SerializationException fromSubmit = Assert.Throws<SerializationException>(() => { _ = pool.SubmitAsync(Describe, new BadInputTests.Exploding()); });
        SerializationException fromMap = await Assert.ThrowsAsync<SerializationException>(
            () => pool.MapAsync(Describe, [new BadInputTests.Exploding()]).WaitAsync(Bounds.Unexpected));
        SerializationException fromProcess = Assert.Throws<SerializationException>(() => { using var _ = WorkerProcess.Start(Describe, new BadInputTests.Exploding()); });

        Assert.StartsWith("The argument of type ", fromSubmit.Message, StringComparison.Ordinal);
        Assert.StartsWith("Item 0 of type ", fromMap.Message, StringComparison.Ordinal);
        Assert.StartsWith("The argument of type ", fromProcess.Message, StringComparison.Ordinal);
        static string Reason(string message) => message[message.IndexOf(" of type ", StringComparison.Ordinal)..];
        Assert.Equal(Reason(fromSubmit.Message), Reason(fromMap.Message));
        Assert.Equal(Reason(fromSubmit.Message), Reason(fromProcess.Message));
        Assert.Contains("boom while serialising", fromSubmit.Message);
        Assert.IsType<InvalidOperationException>(fromSubmit.InnerException);
        Assert.IsType<InvalidOperationException>(fromMap.InnerException);
        Assert.IsType<InvalidOperationException>(fromProcess.InnerException);
    }

    private static string Describe(BadInputTests.Exploding value) => value.Name;
}
