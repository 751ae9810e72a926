namespace Multiprocessing.Benchmarks.SideBySide;

/// <summary>Median, minimum and maximum of a measurement's rounds.</summary>
internal readonly record struct Summary(double Median, double Min, double Max, int Count)
{
    public static Summary? Of(IReadOnlyCollection<double> values)
    {
        if (values.Count == 0)
        {
            return null;
        }
        double[] sorted = [.. values.Order()];
        int n = sorted.Length;
        double median = n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
        return new Summary(median, sorted[0], sorted[^1], n);
    }
}

/// <summary>Percentiles of one run's latencies, by the C floor's index rule (<c>lat[(int)(n * p)]</c>).</summary>
internal static class Percentiles
{
    public static (double P50, double P99, double Min) OfSorted(double[] sorted) =>
        (sorted[sorted.Length / 2], sorted[Math.Min(sorted.Length - 1, (int)(sorted.Length * 0.99))], sorted[0]);
}
