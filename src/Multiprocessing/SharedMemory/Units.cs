using System.Globalization;

namespace Multiprocessing.Sharing;

/// <summary>Byte counts as people read them in messages.</summary>
internal static class Units
{
    public static string Bytes(long bytes)
    {
        string[] units = ["bytes", "KiB", "MiB", "GiB", "TiB"];
        double value = bytes;
        int unit = 0;
        while (Math.Abs(value) >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }
        return unit == 0
            ? string.Create(CultureInfo.InvariantCulture, $"{bytes:N0} bytes")
            : string.Create(CultureInfo.InvariantCulture, $"{value:0.##} {units[unit]} ({bytes:N0} bytes)");
    }
}
