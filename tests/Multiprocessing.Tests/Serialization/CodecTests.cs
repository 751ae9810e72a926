using Multiprocessing.Payload;
using Multiprocessing.Serialization;

namespace Multiprocessing.Tests.Serialization;

/// <summary>Round trips through the codecs the pool picks for each type (in-process: pure data transformations).</summary>
public sealed class CodecTests
{
    private static T RoundTrip<T>(T value)
    {
        var writer = new PayloadWriter();
        Codec<T> codec = CodecProvider.Default.Get<T>();
        codec.Write(writer, value);
        var reader = new PayloadReader(writer.WrittenSpan);
        T copy = codec.Read(ref reader);
        Assert.Equal(0, reader.Remaining);
        return copy;
    }

    public readonly record struct Padded(byte A, long B, short C);

    [Fact]
    public void Primitives_StringsAndStructs_RoundTrip()
    {
        Assert.Equal(42, RoundTrip(42));
        Assert.Equal(double.NaN, RoundTrip(double.NaN));
        Assert.Equal(decimal.MaxValue, RoundTrip(decimal.MaxValue));
        Assert.Equal("héllo ✓", RoundTrip("héllo ✓"));
        Assert.Null(RoundTrip<string?>(null));
        Assert.Equal(new Padded(1, long.MinValue, -3), RoundTrip(new Padded(1, long.MinValue, -3)));
        Assert.Equal((int?)null, RoundTrip<int?>(null));
        Assert.Equal(DayOfWeek.Friday, RoundTrip(DayOfWeek.Friday));
    }

    [Fact]
    public void Arrays_OfUnmanagedAndOfOther_RoundTrip()
    {
        Assert.Equal([1.5, 2.5], RoundTrip(new[] { 1.5, 2.5 }));
        Assert.Equal(new string?[] { "a", null, "c" }, RoundTrip(new[] { "a", null, "c" }));
        Assert.Null(RoundTrip<int[]?>(null));
        Assert.Empty(RoundTrip(Array.Empty<long>()));
    }

    [Fact]
    public void TuplesWithReferences_RoundTripItemByItem()
    {
        Assert.Equal(("path", 3), RoundTrip(("path", 3)));
        Assert.Equal(("a", 1, new Point(1, 2)), RoundTrip(("a", 1, new Point(1, 2))));
    }

    [Fact]
    public void RecordsAndCollections_GoThroughJson()
    {
        Assert.Equal(new Point(3, 4), RoundTrip(new Point(3, 4)));
        Assert.Equal(new List<string> { "x" }, RoundTrip(new List<string> { "x" }));
        Assert.Equal(new Dictionary<string, int> { ["a"] = 1 }, RoundTrip(new Dictionary<string, int> { ["a"] = 1 }));
    }

    [Fact]
    public void CorruptPayload_ThrowsInvalidDataInsteadOfReadingPastTheEnd()
    {
        var writer = new PayloadWriter();
        CodecProvider.Default.Get<double[]>().Write(writer, new double[100]);
        byte[] truncated = writer.WrittenSpan[..50].ToArray();
        Assert.Throws<InvalidDataException>(() =>
        {
            var reader = new PayloadReader(truncated);
            CodecProvider.Default.Get<double[]>().Read(ref reader);
        });
    }
}
