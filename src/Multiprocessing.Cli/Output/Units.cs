using System.Globalization;

namespace Multiprocessing.Cli.Output;

/// <summary>Human-readable quantities for tables: binary byte units, as the kernel and <c>smem -k</c> count them.</summary>
public static class Units
{
    private const long KiB = 1L << 10;
    private const long MiB = 1L << 20;
    private const long GiB = 1L << 30;

    /// <summary>
    /// Formats a byte count as <c>512 KiB</c>, <c>61.2 MiB</c> or <c>1.25 GiB</c>: whole KiB below
    /// 1 MiB (the kernel reports memory in KiB, so there is nothing finer to show), one decimal in
    /// MiB, two in GiB. Always invariant culture, so output is the same on every machine.
    /// </summary>
    /// <param name="bytes">The count; negative values are formatted with a minus sign.</param>
    /// <returns>The text.</returns>
    public static string Bytes(long bytes)
    {
        long magnitude = bytes == long.MinValue ? long.MaxValue : Math.Abs(bytes);
        return magnitude switch
        {
            < MiB => string.Create(CultureInfo.InvariantCulture, $"{bytes / KiB} KiB"),
            < GiB => string.Create(CultureInfo.InvariantCulture, $"{(double)bytes / MiB:0.0} MiB"),
            _ => string.Create(CultureInfo.InvariantCulture, $"{(double)bytes / GiB:0.00} GiB"),
        };
    }
}
