using Multiprocessing.Cli.Output;

namespace Multiprocessing.Tests.Cli;

public sealed class UnitsTests
{
    [Theory]
    [InlineData(0, "0 KiB")]
    [InlineData(4096, "4 KiB")]
    [InlineData(1023 * 1024, "1023 KiB")]
    [InlineData(1 << 20, "1.0 MiB")]
    [InlineData(64_172_032, "61.2 MiB")]
    [InlineData(1L << 30, "1.00 GiB")]
    [InlineData(5L << 39, "2560.00 GiB")]
    [InlineData(-(3 << 20), "-3.0 MiB")]
    public void Bytes_Figure_BinaryUnitWithFixedDecimals(long bytes, string expected) =>
        Assert.Equal(expected, Units.Bytes(bytes));
}
