using System.Globalization;
using System.Text;

namespace Multiprocessing.Cli.Output;

/// <summary>One named data series of an <see cref="SvgChart"/>: one value per point on the x axis.</summary>
/// <param name="Name">Shown in the legend and in each point's tooltip.</param>
/// <param name="Values">One value per x position; <see cref="double.NaN"/> (or an infinity) leaves a gap.</param>
/// <param name="Dashed">A reference rather than a measurement (such as "dataset size"): drawn as a dashed line without point markers, also in a bar chart.</param>
public sealed record SvgSeries(string Name, IReadOnlyList<double> Values, bool Dashed = false);

/// <summary>Size and axis choices of an <see cref="SvgChart"/>.</summary>
public sealed record SvgChartOptions
{
    /// <summary>Width of the image in pixels.</summary>
    /// <value>The default is 760.</value>
    public int Width { get; init; } = 760;

    /// <summary>Height of the image in pixels.</summary>
    /// <value>The default is 460.</value>
    public int Height { get; init; } = 460;

    /// <summary>
    /// In a line chart, whether the x values are evenly spaced labels (1, 2, 4, 8 workers one step
    /// apart) rather than positions on a linear scale.
    /// </summary>
    /// <value>The default is true.</value>
    public bool XAsCategories { get; init; } = true;

    /// <summary>Whether the y axis always includes 0, so that heights compare honestly.</summary>
    /// <value>The default is true.</value>
    public bool YIncludesZero { get; init; } = true;
}

/// <summary>
/// Writes small, self-contained SVG charts (a line chart, a grouped bar chart) with a title, a
/// subtitle, axis labels, gridlines and a legend, with no dependency beyond the base library.
/// </summary>
/// <remarks>
/// Numbers are written in the invariant culture, so the same data gives the same file on every
/// machine, and all text is escaped for XML. Text widths are estimated (there is no font metrics
/// without a renderer), generously enough for a legend of a few short names to lay out cleanly.
/// </remarks>
/// <example>
/// <code>
/// string svg = SvgChart.Line("Memory of the pool", "2 × AMD EPYC, Linux 6.18", "workers", "total PSS (MiB)",
///     [1, 2, 4, 8],
///     [new SvgSeries("copied", [210, 390, 750, 1470]), new SvgSeries("shared", [210, 215, 225, 245]),
///      new SvgSeries("dataset size", [200, 200, 200, 200], Dashed: true)]);
/// File.WriteAllText("memory.svg", svg);
/// </code>
/// </example>
public static class SvgChart
{
    private const double FontSize = 12;
    private const double CharWidth = FontSize * 0.6; // a typical sans-serif average, slightly generous
    private const double LegendRowHeight = 18;
    private const double MarginLeft = 72;
    private const double MarginRight = 24;
    private const double MarginBottom = 58;

    // Colour-blind-friendly and distinct in greyscale print (Okabe & Ito), then a few more.
    private static readonly string[] Palette =
        ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#999999", "#F0E442", "#882255"];

    /// <summary>Draws a line chart: one line per series over the same x values.</summary>
    /// <param name="title">Title at the top.</param>
    /// <param name="subtitle">A smaller line under the title, such as the machine the figures come from; empty for none.</param>
    /// <param name="xLabel">Label of the x axis.</param>
    /// <param name="yLabel">Label of the y axis, with its unit.</param>
    /// <param name="x">The x values, in drawing order.</param>
    /// <param name="series">The lines; each has one value per x value.</param>
    /// <param name="options">Size and axis choices; null for the defaults.</param>
    /// <returns>The SVG document.</returns>
    /// <exception cref="ArgumentException">No x values or no series, a series whose length differs from <paramref name="x"/>, or (on a linear x axis) an x value that is not finite.</exception>
    public static string Line(string title, string subtitle, string xLabel, string yLabel,
        IReadOnlyList<double> x, IReadOnlyList<SvgSeries> series, SvgChartOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(x);
        options ??= new SvgChartOptions();
        if (!options.XAsCategories && x.Any(v => !double.IsFinite(v)))
        {
            throw new ArgumentException("Every x value must be a finite number on a linear x axis.", nameof(x));
        }
        string[] labels = [.. x.Select(Number)];
        return Draw(title, subtitle, xLabel, yLabel, labels, x, series, options, bars: false);
    }

    /// <summary>
    /// Draws a grouped bar chart: for each category, one bar per series side by side; a
    /// <see cref="SvgSeries.Dashed"/> series is drawn as a dashed line across the groups instead
    /// (a target, or a ratio of 1).
    /// </summary>
    /// <param name="title">Title at the top.</param>
    /// <param name="subtitle">A smaller line under the title; empty for none.</param>
    /// <param name="xLabel">Label of the x axis.</param>
    /// <param name="yLabel">Label of the y axis, with its unit.</param>
    /// <param name="categories">The groups, in drawing order.</param>
    /// <param name="series">The bars; each has one value per category.</param>
    /// <param name="options">Size and axis choices (<see cref="SvgChartOptions.XAsCategories"/> does not apply); null for the defaults.</param>
    /// <returns>The SVG document.</returns>
    /// <exception cref="ArgumentException">No categories or no series, or a series whose length differs from <paramref name="categories"/>.</exception>
    public static string Bar(string title, string subtitle, string xLabel, string yLabel,
        IReadOnlyList<string> categories, IReadOnlyList<SvgSeries> series, SvgChartOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(categories);
        options = (options ?? new SvgChartOptions()) with { XAsCategories = true };
        return Draw(title, subtitle, xLabel, yLabel, categories, null, series, options, bars: true);
    }

    private static string Draw(string title, string subtitle, string xLabel, string yLabel,
        IReadOnlyList<string> labels, IReadOnlyList<double>? x, IReadOnlyList<SvgSeries> series, SvgChartOptions options, bool bars)
    {
        ArgumentNullException.ThrowIfNull(title);
        ArgumentNullException.ThrowIfNull(subtitle);
        ArgumentNullException.ThrowIfNull(xLabel);
        ArgumentNullException.ThrowIfNull(yLabel);
        ArgumentNullException.ThrowIfNull(series);
        int n = labels.Count;
        if (n == 0)
        {
            throw new ArgumentException("A chart needs at least one x value.", x is null ? "categories" : "x");
        }
        if (series.Count == 0)
        {
            throw new ArgumentException("A chart needs at least one series.", nameof(series));
        }
        foreach (SvgSeries s in series)
        {
            ArgumentNullException.ThrowIfNull(s, nameof(series));
            if (s.Values.Count != n)
            {
                throw new ArgumentException($"Series '{s.Name}' has {s.Values.Count} values but there are {n} x values.", nameof(series));
            }
        }
        if (options.Width < 200 || options.Height < 150)
        {
            throw new ArgumentException($"A chart must be at least 200 × 150 pixels; got {options.Width} × {options.Height}.", nameof(options));
        }

        double width = options.Width, height = options.Height;
        List<List<(string Name, int Index)>> legendRows = LayoutLegend(series, width - MarginLeft - MarginRight);
        double legendTop = subtitle.Length > 0 ? 66 : 48;
        double plotTop = legendTop + legendRows.Count * LegendRowHeight + 10;
        double plotLeft = MarginLeft, plotRight = width - MarginRight, plotBottom = height - MarginBottom;
        if (plotBottom - plotTop < 40)
        {
            throw new ArgumentException($"The legend of {series.Count} series leaves no room for the plot in {options.Width} × {options.Height} pixels; make the chart larger.", nameof(options));
        }

        // The y axis: "nice" ticks (1, 2 or 5 times a power of ten) that enclose every value.
        IEnumerable<double> finite = series.SelectMany(s => s.Values).Where(double.IsFinite);
        if (options.YIncludesZero)
        {
            finite = finite.Append(0);
        }
        double[] values = [.. finite];
        (double yLow, double yHigh, double yStep) = NiceRange(values.Length == 0 ? 0 : values.Min(), values.Length == 0 ? 1 : values.Max());
        double Y(double v) => plotBottom - (v - yLow) / (yHigh - yLow) * (plotBottom - plotTop);

        // The x axis: evenly spaced bands for categories, a linear scale otherwise.
        double band = (plotRight - plotLeft) / n;
        (double xLow, double xHigh, double xStep) = options.XAsCategories || x is null ? (0, 0, 0) : NiceRange(x.Min(), x.Max());
        double X(int i) => options.XAsCategories || x is null
            ? plotLeft + (i + 0.5) * band
            : plotLeft + (x[i] - xLow) / (xHigh - xLow) * (plotRight - plotLeft);

        var svg = new StringBuilder();
        Append(svg, $"""<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="{FontSize}">""");
        Append(svg, $"<title>{Escape(title)}</title>");
        if (subtitle.Length > 0)
        {
            Append(svg, $"<desc>{Escape(subtitle)}</desc>");
        }
        Append(svg, $"""<rect width="{width}" height="{height}" fill="#ffffff"/>""");
        Append(svg, $"""<text x="{width / 2:0.##}" y="26" text-anchor="middle" font-size="17" font-weight="bold" fill="#222222">{Escape(title)}</text>""");
        if (subtitle.Length > 0)
        {
            Append(svg, $"""<text x="{width / 2:0.##}" y="46" text-anchor="middle" fill="#555555">{Escape(subtitle)}</text>""");
        }

        // Gridlines and tick labels first, so that the data is drawn over them.
        Append(svg, $"""<g class="grid" stroke="#e3e3e3" stroke-width="1">""");
        int yDecimals = Decimals(yStep);
        for (int k = 0; yLow + k * yStep <= yHigh + yStep / 1e6; k++)
        {
            double v = yLow + k * yStep;
            Append(svg, $"""<line x1="{plotLeft:0.##}" y1="{Y(v):0.##}" x2="{plotRight:0.##}" y2="{Y(v):0.##}"/>""");
        }
        if (!options.XAsCategories && x is not null)
        {
            for (int k = 0; xLow + k * xStep <= xHigh + xStep / 1e6; k++)
            {
                double px = plotLeft + k * xStep / (xHigh - xLow) * (plotRight - plotLeft);
                Append(svg, $"""<line x1="{px:0.##}" y1="{plotTop:0.##}" x2="{px:0.##}" y2="{plotBottom:0.##}"/>""");
            }
        }
        else if (!bars)
        {
            for (int i = 0; i < n; i++)
            {
                Append(svg, $"""<line x1="{X(i):0.##}" y1="{plotTop:0.##}" x2="{X(i):0.##}" y2="{plotBottom:0.##}"/>""");
            }
        }
        Append(svg, $"</g>");

        Append(svg, $"""<g class="ticks" fill="#444444">""");
        for (int k = 0; yLow + k * yStep <= yHigh + yStep / 1e6; k++)
        {
            double v = yLow + k * yStep;
            Append(svg, $"""<text x="{plotLeft - 8:0.##}" y="{Y(v) + 4:0.##}" text-anchor="end">{Escape(Tick(v, yDecimals))}</text>""");
        }
        if (!options.XAsCategories && x is not null)
        {
            int xDecimals = Decimals(xStep);
            for (int k = 0; xLow + k * xStep <= xHigh + xStep / 1e6; k++)
            {
                double px = plotLeft + k * xStep / (xHigh - xLow) * (plotRight - plotLeft);
                Append(svg, $"""<text x="{px:0.##}" y="{plotBottom + 18:0.##}" text-anchor="middle">{Escape(Tick(xLow + k * xStep, xDecimals))}</text>""");
            }
        }
        else
        {
            for (int i = 0; i < n; i++)
            {
                Append(svg, $"""<text x="{X(i):0.##}" y="{plotBottom + 18:0.##}" text-anchor="middle">{Escape(labels[i])}</text>""");
            }
        }
        Append(svg, $"</g>");

        Append(svg, $"""<g class="axes" stroke="#444444" stroke-width="1"><line x1="{plotLeft:0.##}" y1="{plotTop:0.##}" x2="{plotLeft:0.##}" y2="{plotBottom:0.##}"/><line x1="{plotLeft:0.##}" y1="{plotBottom:0.##}" x2="{plotRight:0.##}" y2="{plotBottom:0.##}"/></g>""");
        Append(svg, $"""<text x="{(plotLeft + plotRight) / 2:0.##}" y="{height - 16:0.##}" text-anchor="middle" fill="#222222">{Escape(xLabel)}</text>""");
        double yMiddle = (plotTop + plotBottom) / 2;
        Append(svg, $"""<text x="18" y="{yMiddle:0.##}" text-anchor="middle" transform="rotate(-90 18 {yMiddle:0.##})" fill="#222222">{Escape(yLabel)}</text>""");

        // Data: bars (grouped within each category's band), then lines on top of them.
        SvgSeries[] barSeries = bars ? [.. series.Where(s => !s.Dashed)] : [];
        double groupWidth = band * 0.8;
        double barWidth = barSeries.Length == 0 ? 0 : groupWidth / barSeries.Length;
        for (int s = 0; s < series.Count; s++)
        {
            SvgSeries line = series[s];
            string colour = Palette[s % Palette.Length];
            int barIndex = Array.IndexOf(barSeries, line);
            Append(svg, $"""<g class="series" data-name="{Escape(line.Name)}">""");
            if (barIndex >= 0)
            {
                for (int i = 0; i < n; i++)
                {
                    double v = line.Values[i];
                    if (!double.IsFinite(v))
                    {
                        continue;
                    }
                    double left = plotLeft + i * band + (band - groupWidth) / 2 + barIndex * barWidth;
                    double top = Math.Min(Y(v), Y(Math.Max(yLow, Math.Min(0, yHigh))));
                    double barHeight = Math.Abs(Y(v) - Y(Math.Max(yLow, Math.Min(0, yHigh))));
                    Append(svg, $"""<rect x="{left + 1:0.##}" y="{top:0.##}" width="{Math.Max(barWidth - 2, 1):0.##}" height="{barHeight:0.##}" fill="{colour}"><title>{Escape($"{line.Name}, {labels[i]}: {Number(v)}")}</title></rect>""");
                }
            }
            else
            {
                var path = new StringBuilder();
                bool penDown = false;
                for (int i = 0; i < n; i++)
                {
                    double v = line.Values[i];
                    if (!double.IsFinite(v))
                    {
                        penDown = false;
                        continue;
                    }
                    if (bars)
                    {
                        // A reference in a bar chart spans each group's whole band, so it reads
                        // as the level each bar is measured against, not as a trend between groups.
                        double left = plotLeft + i * band;
                        path.Append(CultureInfo.InvariantCulture, $"{(path.Length == 0 ? "M" : " M")}{left:0.##} {Y(v):0.##} L{left + band:0.##} {Y(v):0.##}");
                        continue;
                    }
                    path.Append(CultureInfo.InvariantCulture, $"{(penDown ? " L" : path.Length == 0 ? "M" : " M")}{X(i):0.##} {Y(v):0.##}");
                    penDown = true;
                }
                string dash = line.Dashed ? """ stroke-dasharray="7 5" """ : " ";
                if (path.Length > 0)
                {
                    Append(svg, $"""<path d="{path}" fill="none" stroke="{colour}" stroke-width="2.2"{dash}stroke-linejoin="round"/>""");
                }
                for (int i = 0; i < n && !line.Dashed; i++)
                {
                    double v = line.Values[i];
                    if (double.IsFinite(v))
                    {
                        Append(svg, $"""<circle cx="{X(i):0.##}" cy="{Y(v):0.##}" r="3.5" fill="{colour}"><title>{Escape($"{line.Name}, {labels[i]}: {Number(v)}")}</title></circle>""");
                    }
                }
            }
            Append(svg, $"</g>");
        }

        Append(svg, $"""<g class="legend" fill="#222222">""");
        for (int r = 0; r < legendRows.Count; r++)
        {
            double rowWidth = legendRows[r].Sum(item => LegendItemWidth(item.Name));
            double left = (width - rowWidth) / 2;
            double y = legendTop + r * LegendRowHeight;
            foreach ((string name, int index) in legendRows[r])
            {
                string colour = Palette[index % Palette.Length];
                string dash = series[index].Dashed ? """ stroke-dasharray="5 3" """ : " ";
                Append(svg, $"""<line x1="{left:0.##}" y1="{y:0.##}" x2="{left + 24:0.##}" y2="{y:0.##}" stroke="{colour}" stroke-width="{(bars && !series[index].Dashed ? 8 : 2.2)}"{dash}/>""");
                Append(svg, $"""<text x="{left + 30:0.##}" y="{y + 4:0.##}">{Escape(name)}</text>""");
                left += LegendItemWidth(name);
            }
        }
        Append(svg, $"</g>");
        svg.Append("</svg>\n");
        return svg.ToString();
    }

    /// <summary>Fills legend rows left to right, starting a new row when the next name would not fit.</summary>
    private static List<List<(string Name, int Index)>> LayoutLegend(IReadOnlyList<SvgSeries> series, double available)
    {
        var rows = new List<List<(string, int)>> { new() };
        double used = 0;
        for (int i = 0; i < series.Count; i++)
        {
            double itemWidth = LegendItemWidth(series[i].Name);
            if (used > 0 && used + itemWidth > available)
            {
                rows.Add([]);
                used = 0;
            }
            rows[^1].Add((series[i].Name, i));
            used += itemWidth;
        }
        return rows;
    }

    private static double LegendItemWidth(string name) => 30 + name.Length * CharWidth + 22;

    /// <summary>
    /// Widens [<paramref name="low"/>, <paramref name="high"/>] to whole multiples of a step of
    /// 1, 2 or 5 times a power of ten, giving about five intervals: ticks a reader can add up.
    /// </summary>
    internal static (double Low, double High, double Step) NiceRange(double low, double high)
    {
        if (high < low)
        {
            (low, high) = (high, low);
        }
        if (high - low < Math.Max(Math.Abs(high), 1) * 1e-9)
        {
            // A flat series still needs a scale: give it room above (and below, if not at 0).
            high += Math.Max(Math.Abs(high) * 0.1, 1);
            low = low == 0 ? 0 : low - Math.Max(Math.Abs(low) * 0.1, 1);
        }
        double rough = (high - low) / 5;
        double power = Math.Pow(10, Math.Floor(Math.Log10(rough)));
        double fraction = rough / power;
        double step = (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10) * power;
        double niceLow = Math.Floor(low / step + 1e-9) * step;
        double niceHigh = Math.Ceiling(high / step - 1e-9) * step;
        return (niceLow, niceHigh, step);
    }

    private static int Decimals(double step) => Math.Clamp((int)-Math.Floor(Math.Log10(step) + 1e-9), 0, 10);

    private static string Tick(double value, int decimals)
    {
        // Sums of steps drift (0.1 + 0.2); rounding to the step's precision also turns -0 into 0.
        double rounded = Math.Round(value, decimals);
        return (rounded == 0 ? 0 : rounded).ToString("#,0." + new string('0', decimals), CultureInfo.InvariantCulture).TrimEnd('.');
    }

    private static string Number(double value) => value.ToString("#,0.###", CultureInfo.InvariantCulture);

    /// <summary>Appends one element per line, formatted in the invariant culture whatever the machine's: SVG wants "1.5", never "1,5".</summary>
    private static void Append(StringBuilder svg, FormattableString text) =>
        svg.Append(text.ToString(CultureInfo.InvariantCulture)).Append('\n');

    /// <summary>Escapes text for XML content and attribute values, and drops characters XML 1.0 cannot hold at all.</summary>
    internal static string Escape(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var escaped = new StringBuilder(text.Length);
        foreach (char c in text)
        {
            switch (c)
            {
                case '&': escaped.Append("&amp;"); break;
                case '<': escaped.Append("&lt;"); break;
                case '>': escaped.Append("&gt;"); break;
                case '"': escaped.Append("&quot;"); break;
                case '\'': escaped.Append("&apos;"); break;
                case '\t' or '\n' or '\r': escaped.Append(' '); break;
                case < ' ' or '\uFFFE' or '\uFFFF': break;
                default: escaped.Append(c); break;
            }
        }
        return escaped.ToString();
    }
}
