using System.Runtime.Serialization;

namespace Multiprocessing.Tests.Pool;

/// <summary>What cannot cross a process boundary is refused at the call, with the reason and the fix; the pool stays usable.</summary>
public sealed class BadInputTests : IAsyncLifetime
{
    private ProcessPool _pool = null!;

    public Task InitializeAsync()
    {
        _pool = new ProcessPool(new ProcessPoolOptions { Workers = 1, MaxMessageSize = 64 * 1024 });
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _pool.DisposeAsync();

    private async Task PoolStillWorks() => Assert.Equal(81, await _pool.SubmitAsync(Tasks.Square, 9).WaitAsync(Bounds.Unexpected));

    [Fact]
    public async Task MapAsync_CapturingLambda_ThrowsAtOnceNamingTheCapturedVariable()
    {
        int k = 3;
        ArgumentException error = Assert.Throws<ArgumentException>(() => { _ = _pool.MapAsync(x => x * k, new[] { 1, 2 }); });
        Assert.Contains("'k'", error.Message);
        Assert.Contains("Initializer", error.Message);
        await PoolStillWorks();
    }

    [Fact]
    public async Task SubmitAsync_CapturingThis_ThrowsNamingThis()
    {
        ArgumentException error = Assert.Throws<ArgumentException>(() => { _ = _pool.SubmitAsync(x => x + _offset, 1); });
        Assert.Contains("'this'", error.Message);
        await PoolStillWorks();
    }

    private readonly int _offset = 1;

    [Fact]
    public async Task SubmitAsync_InstanceMethodOfAnObject_Throws()
    {
        var counter = new Counter();
        ArgumentException error = Assert.Throws<ArgumentException>(() => { _ = _pool.SubmitAsync(counter.Add, 1); });
        Assert.Contains("instance method", error.Message);
        Assert.Contains("static", error.Message);
        await PoolStillWorks();
    }

    [Fact]
    public async Task SubmitAsync_StreamArgument_ThrowsNamingTheType()
    {
        ArgumentException error = Assert.Throws<ArgumentException>(() => { _ = _pool.SubmitAsync(Length, (Stream)new MemoryStream()); });
        Assert.Contains("System.IO.Stream", error.Message);
        Assert.Contains("path", error.Message);
        await PoolStillWorks();
    }

    [Fact]
    public async Task SubmitAsync_DelegateArgument_Throws()
    {
        ArgumentException error = Assert.Throws<ArgumentException>(() => { _ = _pool.SubmitAsync(Invoke, (Func<int>)(() => 1)); });
        Assert.Contains("delegate", error.Message);
        await PoolStillWorks();
    }

    [Fact]
    public async Task SubmitAsync_PointerArgumentOrField_Throws()
    {
        ArgumentException direct = Assert.Throws<ArgumentException>(() => { _ = _pool.SubmitAsync(Address, (nint)42); });
        Assert.Contains("pointer", direct.Message);
        ArgumentException field = Assert.Throws<ArgumentException>(() => { _ = _pool.SubmitAsync(Buffer, new NativeBuffer(1, 2)); });
        Assert.Contains("pointer", field.Message);
        await PoolStillWorks();
    }

    [Fact]
    public async Task SubmitAsync_ResultThatCannotTravel_Throws()
    {
        ArgumentException error = Assert.Throws<ArgumentException>(() => { _ = _pool.SubmitAsync(Open, "x"); });
        Assert.Contains("result", error.Message);
        await PoolStillWorks();
    }

    [Fact]
    public async Task SubmitAsync_ObjectDeclaredType_IsRefusedRatherThanSilentlyBecomingJsonElement()
    {
        ArgumentException error = Assert.Throws<ArgumentException>(() => { _ = _pool.SubmitAsync(Describe, (object)5); });
        Assert.Contains("concrete type", error.Message);
        await PoolStillWorks();
    }

    [Fact]
    public async Task SubmitAsync_ValueThatThrowsWhileSerialising_ThrowsSerializationException()
    {
        SerializationException error = Assert.Throws<SerializationException>(() => { _ = _pool.SubmitAsync(Name, new Exploding()); });
        Assert.Contains("Exploding", error.Message);
        await PoolStillWorks();
    }

    [Fact]
    public async Task SubmitAsync_TypeThatCannotBeRebuilt_FailsAtSubmitNotInTheWorker()
    {
        // Refused by the type check when the method is registered: the private property holds state JSON would not carry.
        ArgumentException error = Assert.Throws<ArgumentException>(() => { _ = _pool.SubmitAsync(Count, new NoConstructor(5)); });
        Assert.Contains("NoConstructor.Hidden", error.Message);
        await PoolStillWorks();
    }

    [Fact]
    public async Task MapAsync_ItemThatCannotSerialise_FaultsNamingTheItem()
    {
        SerializationException error = await Assert.ThrowsAsync<SerializationException>(
            () => _pool.MapAsync(Name, Enumerable.Range(0, 10).Select(i => new Exploding { Explode = i == 7 })).WaitAsync(Bounds.Unexpected));
        Assert.Contains("Item 7", error.Message);
        await PoolStillWorks();
    }

    [Fact]
    public async Task SubmitAsync_ResultThatFailsToSerialiseInTheWorker_ThrowsSerializationException()
    {
        SerializationException error = await Assert.ThrowsAsync<SerializationException>(() => _pool.SubmitAsync(MakeExploding, 1).WaitAsync(Bounds.Unexpected));
        Assert.Contains("could not be serialised", error.Message);
        await PoolStillWorks();
    }

    [Fact]
    public async Task SubmitAsync_ArgumentAboveMaxMessageSize_ThrowsWithTheFix()
    {
        ArgumentException error = Assert.Throws<ArgumentException>(() => { _ = _pool.SubmitAsync(Sum, new byte[100_000]); });
        Assert.Contains("file path", error.Message);
        Assert.Contains("MaxMessageSize", error.Message);
        await PoolStillWorks();
    }

    [Fact]
    public async Task MapAsync_ItemAboveMaxMessageSize_FailsWithTheSameExceptionAndWordingAsSubmit()
    {
        ArgumentException fromSubmit = Assert.Throws<ArgumentException>(() => { _ = _pool.SubmitAsync(Sum, new byte[100_000]); });
        ArgumentException fromMap = await Assert.ThrowsAsync<ArgumentException>(
            () => _pool.MapAsync(Sum, new[] { new byte[10], new byte[100_000] }, new MapOptions { ChunkSize = 1 }).WaitAsync(Bounds.Unexpected));
        Assert.StartsWith("Item 1 serialises to a message of", fromMap.Message, StringComparison.Ordinal);
        static string Fix(string message) => message[message.IndexOf("above the pool's", StringComparison.Ordinal)..];
        Assert.Equal(Fix(fromSubmit.Message[..fromSubmit.Message.IndexOf(" (Parameter", StringComparison.Ordinal)]), Fix(fromMap.Message));
        await PoolStillWorks();
    }

    [Fact]
    public async Task SubmitAsync_CompiledExpression_Throws()
    {
        System.Linq.Expressions.Expression<Func<int, int>> expression = x => x + 1;
        ArgumentException error = Assert.Throws<ArgumentException>(() => { _ = _pool.SubmitAsync(expression.Compile(), 1); });
        Assert.Contains("run time", error.Message);
        await PoolStillWorks();
    }

    private sealed class Counter
    {
        public int Add(int x) => x + 1;
    }

    public sealed class Exploding
    {
        public bool Explode { get; init; } = true;

        public string Name => Explode ? throw new InvalidOperationException("boom while serialising") : "fine";
    }

    public sealed class NoConstructor
    {
        public NoConstructor(int hidden) => Hidden = hidden;

        public int Value => Hidden;

        private int Hidden { get; }
    }

    public readonly struct NativeBuffer(nint address, int length)
    {
        public readonly nint Address = address;
        public readonly int Length = length;
    }

    private static long Length(Stream s) => s.Length;
    private static int Invoke(Func<int> f) => f();
    private static long Address(nint p) => p;
    private static int Buffer(NativeBuffer b) => b.Length;
    private static Stream Open(string path) => File.OpenRead(path);
    private static string Describe(object o) => o.ToString() ?? "";
    private static string Name(Exploding e) => e.Explode ? "explodes" : "fine";
    private static int Count(NoConstructor n) => n.Value;
    private static Exploding MakeExploding(int _) => new();
    private static int Sum(byte[] bytes) => bytes.Sum(b => b);
}
