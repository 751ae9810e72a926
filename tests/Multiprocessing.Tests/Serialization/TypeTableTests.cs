using System.Collections;
using System.Collections.Immutable;
using System.Numerics;
using System.Runtime.Serialization;
using System.Text.Json.Serialization;

namespace Multiprocessing.Tests.Serialization;

/// <summary>One worker process shared by every row of the type table.</summary>
public sealed class TypeTablePool : IAsyncLifetime
{
    public ProcessPool Pool { get; private set; } = null!;

    public Task InitializeAsync()
    {
        Pool = new ProcessPool(new ProcessPoolOptions { Workers = 1 });
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await Pool.DisposeAsync();
}

/// <summary>
/// The type table (docs/serialization.md): each value goes to a real worker as the argument of an
/// identity task and comes back as its result, and must equal what was sent exactly (bits of
/// floating-point zeros, DateTime kinds, offsets, decimal scale, lone surrogates); or the call is
/// refused before anything is sent, with a message that names the member.
/// </summary>
public sealed class TypeTableTests(TypeTablePool fixture) : IClassFixture<TypeTablePool>
{
    // ----- Types of the table -----

    public enum Colour { Red = 1, Green = 2 }

    [Flags]
    public enum Access { None = 0, Read = 1, Write = 2 }

    public sealed record Node(int Value, Node? Next);

    public sealed record Inits
    {
        public int A { get; init; }
        public string? B { get; init; }
    }

    public sealed class Mutable
    {
        public int Count { get; set; }
        public List<string> Names { get; set; } = [];
        public double Ratio;
    }

    public sealed record Order(int Id, List<Line> Lines, Dictionary<string, decimal> Prices);

    public sealed record Line(string Sku, int Quantity);

    public sealed record Everything(
        BigInteger Big, string Lone, char Surrogate, double NegativeZero, double NaN, float Infinity, decimal Scaled,
        Half Half, Int128 Huge, DateTime Local, DateTime Unspecified, DateTimeOffset Offset, Index FromEnd, Range Slice,
        Guid Id, TimeSpan Span, DateOnly Day, TimeOnly Time, Uri Link, Colour Colour, Access Access, int? Missing,
        (int, string) Pair, Complex Complex, Secret Secret);

    /// <summary>A struct whose state is private: exact only if it travels byte for byte.</summary>
    public readonly struct Secret(int code)
    {
        private readonly int _hidden = code * 7;

        public int Code => _hidden / 7;
    }

    public sealed record WithSequences(IEnumerable<int> Numbers, IReadOnlyList<string> Words, ImmutableArray<long> Longs, HashSet<int> Set, int[][] Jagged, IReadOnlyDictionary<string, int> Map);

    public sealed record Keys(Dictionary<int, string> ByInt, Dictionary<Guid, double> ByGuid, Dictionary<Colour, int> ByEnum, Dictionary<BigInteger, int> ByBig, Dictionary<(int, int), string> ByStruct);

    public sealed record RefStruct(string Name, int Value);

    public sealed class SameNameConstructor(int value, string label)
    {
        public int Value { get; } = value;

        public string Label { get; } = label;
    }

    public sealed class PopulatedList
    {
        [JsonObjectCreationHandling(JsonObjectCreationHandling.Populate)]
        public List<int> Items { get; } = [];
    }

    public sealed class IncludedPrivateSetter
    {
        [JsonInclude]
        public int Total { get; private set; }

        public static IncludedPrivateSetter Of(int total) => new() { Total = total };
    }

    [JsonDerivedType(typeof(Circle), "circle")]
    [JsonDerivedType(typeof(Square), "square")]
    public abstract record Shape;

    public sealed record Circle(double Radius) : Shape;

    public sealed record Square(double Side) : Shape;

    public sealed record Drawing(List<Shape> Shapes);

    // Refused

    public sealed record WithObject(int Id, object Payload);

    public sealed record WithObjectList(List<object> Items);

    public sealed record Nested(Order Order, WithObject Inner);

    public interface IThing
    {
        int Size { get; }
    }

    public sealed record WithInterface(IThing Thing);

    public abstract record AbstractThing(int Size);

    public sealed record WithAbstract(AbstractThing Thing);

    public sealed class GetOnlyOtherName
    {
        public GetOnlyOtherName(int value) => V = value;

        public int V { get; }
    }

    public sealed class PrivateSetter
    {
        public int Total { get; private set; }

        public void Add(int x) => Total += x;
    }

    public sealed class PrivateField(int start)
    {
        private int _secret = start;

        public int Next() => ++_secret;
    }

    public sealed class PrivateProperty(int hidden)
    {
        public int Value => Hidden;

        private int Hidden { get; } = hidden;
    }

    public sealed class UnboundParameter
    {
        public UnboundParameter(int other) => Value = other;

        public int Value { get; set; }
    }

    public sealed record WithTask(Task<int> Pending);

    public sealed record WithHandle(Microsoft.Win32.SafeHandles.SafeFileHandle File);

    public sealed class Link
    {
        public Link? Next { get; set; }
    }

    public sealed class NamedList : List<int>
    {
        public string Name { get; set; } = "";
    }

    public sealed class GetOnlyList
    {
        public List<int> Items { get; } = [];
    }

    public sealed record WithDelegate(Func<int> Make);

    public sealed record WithStream(Stream Source);

    public sealed record WithPointer(nint Address);

    public sealed record WithException(string Name, Exception Error);

    public sealed record WithType(Type Kind);

    public sealed record ByRecordKey(Dictionary<Point, int> Counts);

    public sealed record WithMatrix(int[,] Cells);

    public sealed record WithArrayList(ArrayList Items);

    public sealed record WithLazy(Lazy<int> Value);

    public record Base(int A);

    public sealed record Derived(int A, int B) : Base(A);

    public sealed record Holder(Base Item);

    // ----- The table -----

    private static bool Bits(double a, double b) => BitConverter.DoubleToInt64Bits(a) == BitConverter.DoubleToInt64Bits(b);

    private static bool Bits(float a, float b) => BitConverter.SingleToInt32Bits(a) == BitConverter.SingleToInt32Bits(b);

    private static bool Exact(DateTime a, DateTime b) => a.Ticks == b.Ticks && a.Kind == b.Kind;

    private static bool Exact(DateTimeOffset a, DateTimeOffset b) => a.Ticks == b.Ticks && a.Offset == b.Offset;

    private static bool Exact(decimal a, decimal b) => decimal.GetBits(a).SequenceEqual(decimal.GetBits(b));

    private static readonly DateTime LocalNow = new(2026, 12, 6, 1, 2, 3, 456, DateTimeKind.Local);

    private static Everything AllOfIt() => new(
        BigInteger.Pow(3, 200), "a\uD800b", '\uDC00', -0.0, double.NaN, float.NegativeInfinity, 1.10m,
        (Half)1.5, Int128.MinValue, LocalNow.AddTicks(7), new DateTime(2001, 2, 3, 4, 5, 6, DateTimeKind.Unspecified),
        new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.FromMinutes(330)).AddTicks(1), ^3, 1..^2,
        Guid.NewGuid(), TimeSpan.FromTicks(123_456_789), new DateOnly(1999, 12, 31), new TimeOnly(23, 59, 59, 999), new Uri("https://example.org/a?b=c"),
        Colour.Green, Access.Read | Access.Write, null, (7, "seven"), new Complex(1.5, -2.5), new Secret(6));

    private static bool Same(Everything a, Everything b) =>
        a.Big == b.Big && a.Lone == b.Lone && a.Surrogate == b.Surrogate && Bits(a.NegativeZero, b.NegativeZero) && Bits(a.NaN, b.NaN)
        && Bits(a.Infinity, b.Infinity) && Exact(a.Scaled, b.Scaled) && a.Half.Equals(b.Half) && a.Huge == b.Huge && Exact(a.Local, b.Local)
        && Exact(a.Unspecified, b.Unspecified) && Exact(a.Offset, b.Offset) && a.FromEnd.Equals(b.FromEnd) && a.Slice.Equals(b.Slice)
        && a.Id == b.Id && a.Span == b.Span && a.Day == b.Day && a.Time == b.Time && a.Link == b.Link && a.Colour == b.Colour
        && a.Access == b.Access && a.Missing == b.Missing && a.Pair == b.Pair && a.Complex == b.Complex && a.Secret.Code == b.Secret.Code;

    private static readonly Dictionary<string, TableCase> s_roundTrips = new TableCase[]
    {
        new Trip<int>("int", int.MinValue),
        new Trip<long>("long", long.MaxValue),
        new Trip<ulong>("ulong", ulong.MaxValue),
        new Trip<bool>("bool", true),
        new Trip<char>("char lone surrogate", '\uD800'),
        new Trip<double>("double NaN", double.NaN, Bits),
        new Trip<double>("double -0.0", -0.0, Bits),
        new Trip<double>("double +Infinity", double.PositiveInfinity, Bits),
        new Trip<double>("double epsilon", double.Epsilon, Bits),
        new Trip<float>("float -0.0", -0.0f, Bits),
        new Trip<decimal>("decimal scale 1.10", 1.10m, Exact),
        new Trip<decimal>("decimal max", decimal.MaxValue, Exact),
        new Trip<Half>("Half", (Half)(-0.125)),
        new Trip<Int128>("Int128", Int128.MinValue),
        new Trip<UInt128>("UInt128", UInt128.MaxValue),
        new Trip<BigInteger>("BigInteger 3^200", BigInteger.Pow(3, 200), (a, b) => a == b),
        new Trip<BigInteger>("BigInteger -3^200", -BigInteger.Pow(3, 200), (a, b) => a == b),
        new Trip<BigInteger?>("BigInteger? 2^100", BigInteger.Pow(2, 100), (a, b) => a == b),
        new Trip<Complex>("Complex", new Complex(1, -1)),
        new Trip<Guid>("Guid", Guid.NewGuid()),
        new Trip<TimeSpan>("TimeSpan", TimeSpan.FromTicks(-987_654_321)),
        new Trip<DateTime>("DateTime Utc", DateTime.UtcNow, Exact),
        new Trip<DateTime>("DateTime Local", LocalNow, Exact),
        new Trip<DateTime>("DateTime Unspecified", new DateTime(2000, 1, 1, 0, 0, 0, DateTimeKind.Unspecified).AddTicks(1), Exact),
        new Trip<DateTimeOffset>("DateTimeOffset +05:30", new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.FromMinutes(330)), Exact),
        new Trip<DateOnly>("DateOnly", DateOnly.MaxValue),
        new Trip<TimeOnly>("TimeOnly", TimeOnly.MaxValue),
        new Trip<Index>("Index ^3", ^3),
        new Trip<Range>("Range 1..^2", 1..^2),
        new Trip<Colour>("enum", Colour.Green),
        new Trip<Access>("flags enum", Access.Read | Access.Write),
        new Trip<int?>("int? null", null),
        new Trip<int?>("int? 5", 5),
        new Trip<string>("string lone surrogate", "x\uDBFFy\uD800"),
        new Trip<string>("string emoji and NUL", "a😀\0z"),
        new Trip<string?>("string null", null),
        new Trip<Uri>("Uri", new Uri("file:///tmp/a%20b")),
        new Trip<Version>("Version", new Version(1, 2, 3, 4)),
        new Trip<byte[]>("byte[]", [0, 1, 255]),
        new Trip<int[]?>("int[] null", null),
        new Trip<int[][]>("int[][] jagged", [[1], [], [2, 3]]),
        new Trip<string?[]>("string[] with null", ["a", null, "\uD800"]),
        new Trip<Memory<byte>>("Memory<byte>", new byte[] { 9, 8, 7 }, (a, b) => a.Span.SequenceEqual(b.Span)),
        new Trip<ReadOnlyMemory<int>>("ReadOnlyMemory<int>", new[] { -1, 0, 1 }, (a, b) => a.Span.SequenceEqual(b.Span)),
        new Trip<List<int>>("List<int>", [3, 1, 2]),
        new Trip<HashSet<string>>("HashSet<string>", ["a", "b"], (a, b) => a.SetEquals(b)),
        new Trip<ImmutableArray<int>>("ImmutableArray<int>", [1, 2], (a, b) => a.SequenceEqual(b)),
        new Trip<Dictionary<int, string>>("Dictionary<int, string>", new() { [1] = "one", [-2] = "minus two" }),
        new Trip<Dictionary<string, List<int>>>("Dictionary<string, List<int>>", new() { ["a"] = [1, 2] }),
        new Trip<(int, string)>("ValueTuple (int, string)", (1, "one")),
        new Trip<(int, string, double, Point)>("ValueTuple of four", (1, "one", -0.0, new Point(1, 2)), (a, b) => a.Item1 == b.Item1 && a.Item2 == b.Item2 && Bits(a.Item3, b.Item3) && a.Item4 == b.Item4),
        new Trip<Tuple<int, string>>("Tuple<int, string>", Tuple.Create(1, "one")),
        new Trip<KeyValuePair<string, int>>("KeyValuePair", new("k", 1)),
        new Trip<Point>("record class", new Point(0.1, -0.0), (a, b) => Bits(a.X, b.X) && Bits(a.Y, b.Y)),
        new Trip<RefStruct>("record with string", new RefStruct("n", 4)),
        new Trip<Inits>("record with init properties", new Inits { A = 1, B = "b" }),
        new Trip<Mutable>("class with get/set properties and a field", new Mutable { Count = 2, Names = ["x"], Ratio = 0.5 }),
        new Trip<Order>("nested records and collections", new Order(1, [new Line("s", 2)], new() { ["s"] = 1.10m })),
        new Trip<Node>("recursive record", new Node(1, new Node(2, new Node(3, null)))),
        new Trip<Everything>("record of every leaf type", AllOfIt(), Same),
        new Trip<Secret>("struct with private state", new Secret(5), (a, b) => a.Code == b.Code),
        new Trip<WithSequences>("record of sequences", new WithSequences(new List<int> { 1, 2 }, new List<string> { "w" }, [5L], [4], [[1], []], new Dictionary<string, int> { ["k"] = 1 })),
        new Trip<Keys>("dictionaries with non-string keys", new Keys(new() { [1] = "a" }, new() { [Guid.NewGuid()] = 1.5 }, new() { [Colour.Red] = 1 }, new() { [BigInteger.Pow(10, 30)] = 1 }, new() { [(1, -2)] = "s" })),
        new Trip<SameNameConstructor>("get-only properties set by same-name constructor parameters", new SameNameConstructor(3, "l")),
        new Trip<PopulatedList>("get-only list marked Populate", Populated()),
        new Trip<IncludedPrivateSetter>("private setter marked JsonInclude", IncludedPrivateSetter.Of(9)),
        new Trip<Shape>("abstract base with JsonDerivedType", new Circle(2)),
        new Trip<Drawing>("list of a JsonDerivedType base", new Drawing([new Square(1), new Circle(3)])),
    }.ToDictionary(c => c.Name);

    private static PopulatedList Populated()
    {
        var list = new PopulatedList();
        list.Items.AddRange([4, 5]);
        return list;
    }

    private static readonly Dictionary<string, TableCase> s_refusals = new TableCase[]
    {
        new Refused<WithObject>("object member", new WithObject(1, 5), "WithObject.Payload", "System.Object", "concrete type"),
        new Refused<List<object>>("List<object>", [1, "a"], "List<Object>[]", "System.Object"),
        new Refused<WithObjectList>("List<object> member", new WithObjectList([1]), "WithObjectList.Items[]", "System.Object"),
        new Refused<Dictionary<string, object>>("Dictionary<string, object>", new() { ["a"] = 1 }, "Dictionary<String, Object>[]", "System.Object"),
        new Refused<Nested>("object member two levels down", new Nested(new Order(1, [], []), new WithObject(1, 2)), "Nested.Inner.Payload"),
        new Refused<WithInterface>("interface member", new WithInterface(null!), "WithInterface.Thing", "interface", "JsonDerivedType"),
        new Refused<WithAbstract>("abstract member", new WithAbstract(null!), "WithAbstract.Thing", "abstract"),
        new Refused<GetOnlyOtherName>("get-only property set by a parameter of another name", new GetOnlyOtherName(5), "GetOnlyOtherName.V", "get-only", "'v'"),
        new Refused<PrivateSetter>("private setter", new PrivateSetter(), "PrivateSetter.Total", "non-public setter", "JsonInclude"),
        new Refused<PrivateProperty>("non-public property", new PrivateProperty(1), "PrivateProperty.Hidden", "not public"),
        new Refused<UnboundParameter>("constructor parameter that matches no member", new UnboundParameter(1), "UnboundParameter", "'other'"),
        new Refused<ValueType>("ValueType", 1, "System.ValueType", "concrete type"),
        new Refused<Enum>("Enum", Colour.Red, "System.Enum", "concrete type"),
        new Refused<WithTask>("Task member", new WithTask(Task.FromResult(1)), "WithTask.Pending"),
        new Refused<WithHandle>("SafeHandle member", new WithHandle(null!), "WithHandle.File"),
        new Refused<CancellationToken>("CancellationToken", CancellationToken.None, "last parameter"),
        new Refused<PrivateField>("state in a private field", new PrivateField(1), "_secret", "non-public field"),
        new Refused<NamedList>("collection type with members of its own", new NamedList { Name = "n" }, "NamedList", "elements only"),
        new Refused<GetOnlyList>("get-only list", new GetOnlyList(), "GetOnlyList.Items", "get-only"),
        new Refused<WithDelegate>("delegate member", new WithDelegate(() => 1), "WithDelegate.Make", "delegate"),
        new Refused<WithStream>("stream member", new WithStream(Stream.Null), "WithStream.Source", "System.IO.Stream"),
        new Refused<WithPointer>("pointer member", new WithPointer(1), "WithPointer.Address", "pointer"),
        new Refused<WithException>("exception member", new WithException("x", new InvalidOperationException()), "WithException.Error", "exception"),
        new Refused<Exception>("exception", new InvalidOperationException(), "exception"),
        new Refused<WithType>("Type member", new WithType(typeof(int)), "WithType.Kind", "System.Type"),
        new Refused<ByRecordKey>("record as dictionary key", new ByRecordKey([]), "ByRecordKey.Counts", "keys"),
        new Refused<WithMatrix>("multi-dimensional array member", new WithMatrix(new int[1, 1]), "WithMatrix.Cells", "jagged"),
        new Refused<int[,]>("multi-dimensional array", new int[2, 2], "Int32[,] is a multi-dimensional array", "Int32[][]"),
        new Refused<WithArrayList>("non-generic collection", new WithArrayList([]), "WithArrayList.Items[]", "System.Object"),
        new Refused<WithLazy>("Lazy<T> member", new WithLazy(new Lazy<int>(1)), "WithLazy.Value"),
        new Substituted<Base>("derived record passed as its base", new Derived(1, 2), "Derived", "Base", "JsonDerivedType"),
        new Substituted<Holder>("derived record in a member declared as its base", new Holder(new Derived(1, 2)), "Derived", "Base"),
        new Substituted<List<Base>>("derived record in a list of its base", [new Base(1), new Derived(1, 2)], "Derived", "Base"),
        new Substituted<List<int>>("derived collection passed as its base", new NamedList { 1 }, "NamedList", "List<Int32>"),
        new Substituted<Node>("nesting deeper than 64 levels", Deep(100), "depth"),
        new Substituted<Link>("object graph with a cycle", Cycle(), "cycle"),
        new Substituted<Dictionary<string, int>>("string key with a lone surrogate", new() { ["\uD800"] = 1 }, "surrogate"),
    }.ToDictionary(c => c.Name);

    private static Link Cycle()
    {
        var link = new Link();
        link.Next = link;
        return link;
    }

    private static Node Deep(int levels)
    {
        Node node = new(0, null);
        for (int i = 1; i < levels; i++)
        {
            node = new Node(i, node);
        }
        return node;
    }

    public static TheoryData<string> RoundTrips => new(s_roundTrips.Keys);

    public static TheoryData<string> Refusals => new(s_refusals.Keys);

    [Theory]
    [MemberData(nameof(RoundTrips))]
    public Task SubmitAsync_TableValue_ComesBackFromAWorkerExactly(string name) => s_roundTrips[name].RunAsync(fixture.Pool);

    [Theory]
    [MemberData(nameof(Refusals))]
    public Task SubmitAsync_TableValueThatJsonWouldChange_IsRefusedAtTheCallNamingTheMember(string name) => s_refusals[name].RunAsync(fixture.Pool);

    [Fact]
    public async Task SubmitAsync_ResultOfADerivedTypeWhereTheBaseIsDeclared_FailsInsteadOfArrivingAsTheBase()
    {
        SerializationException error = await Assert.ThrowsAsync<SerializationException>(() => fixture.Pool.SubmitAsync(MakeDerived, 2).WaitAsync(Bounds.Unexpected));
        Assert.Contains("Derived", error.Message);
    }

    [Fact]
    public async Task WorkerProcess_ResultOfADerivedTypeWhereTheBaseIsDeclared_FailsWithTheSameExceptionAsThePool()
    {
        // One mapping from a worker's report to the public exception: a WorkerProcess and a pool
        // give the same type and wording for the same fault.
        SerializationException fromPool = await Assert.ThrowsAsync<SerializationException>(() => fixture.Pool.SubmitAsync(MakeDerived, 2).WaitAsync(Bounds.Unexpected));
        using var child = WorkerProcess.Start(MakeDerived, 2);
        SerializationException fromProcess = await Assert.ThrowsAsync<SerializationException>(() => child.Result.WaitAsync(Bounds.Unexpected));
        string Wording(string message) => message[..message.IndexOf(" in worker process", StringComparison.Ordinal)];
        Assert.Equal(Wording(fromPool.Message), Wording(fromProcess.Message));
        await child.WaitForExitAsync().WaitAsync(Bounds.Unexpected);
    }

    [Fact]
    public void SubmitAsync_ResultTypeWithAnObjectMember_IsRefusedAtTheCall()
    {
        ArgumentException error = Assert.Throws<ArgumentException>(() => { _ = fixture.Pool.SubmitAsync(MakeWithObject, 2); });
        Assert.Contains("result", error.Message);
        Assert.Contains("WithObject.Payload", error.Message);
    }

    private static Base MakeDerived(int x) => new Derived(x, x);

    private static WithObject MakeWithObject(int x) => new(x, x);

    // ----- Cases -----

    public abstract class TableCase(string name)
    {
        public string Name { get; } = name;

        public abstract Task RunAsync(ProcessPool pool);

        public override string ToString() => Name;
    }

    /// <summary>Goes to the worker as the argument and comes back as the result of <see cref="Tasks.Identity{T}"/>.</summary>
    private sealed class Trip<T>(string name, T value, Func<T, T, bool>? same = null) : TableCase(name)
    {
        public override async Task RunAsync(ProcessPool pool)
        {
            T back = await pool.SubmitAsync<T, T>(Tasks.Identity, value).WaitAsync(Bounds.Unexpected);
            if (same is not null)
            {
                Assert.True(same(value, back), $"{Name}: sent {value}, received {back}");
                return;
            }
            if (value is not null)
            {
                Assert.Equal(value.GetType(), back!.GetType());
            }
            Assert.Equivalent(value, back, strict: true);
        }
    }

    /// <summary>The declared type is refused when the method is registered: nothing is written, no worker is asked.</summary>
    private sealed class Refused<T>(string name, T value, params string[] mentions) : TableCase(name)
    {
        public override Task RunAsync(ProcessPool pool)
        {
            ArgumentException error = Assert.Throws<ArgumentException>(() => { _ = pool.SubmitAsync<T, T>(Tasks.Identity, value); });
            foreach (string mention in mentions)
            {
                Assert.Contains(mention, error.Message);
            }
            return PoolStillWorks(pool);
        }
    }

    /// <summary>The type is fine but this value is not (a derived instance, too deep): refused while it is written, at the call.</summary>
    private sealed class Substituted<T>(string name, T value, params string[] mentions) : TableCase(name)
    {
        public override Task RunAsync(ProcessPool pool)
        {
            SerializationException error = Assert.Throws<SerializationException>(() => { _ = pool.SubmitAsync<T, T>(Tasks.Identity, value); });
            foreach (string mention in mentions)
            {
                Assert.Contains(mention, error.Message);
            }
            return PoolStillWorks(pool);
        }
    }

    private static async Task PoolStillWorks(ProcessPool pool) => Assert.Equal(81, await pool.SubmitAsync(Tasks.Square, 9).WaitAsync(Bounds.Unexpected));
}
