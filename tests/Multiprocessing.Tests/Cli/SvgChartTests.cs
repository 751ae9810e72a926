using System.Globalization;
using System.Xml.Linq;
using Multiprocessing.Cli.Output;

namespace Multiprocessing.Tests.Cli;

public sealed class SvgChartTests
{
    private static readonly XNamespace Svg = "http://www.w3.org/2000/svg";

    private static readonly SvgSeries[] MemorySeries =
    [
        new("copied", [210, 390, 750, 1470]),
        new("shared", [210, 215, 225, 245]),
        new("dataset size", [200, 200, 200, 200], Dashed: true),
    ];

    [Fact]
    public void Line_ThreeSeries_IsWellFormedSvgWithTitleLegendAndEverySeries()
    {
        string svg = SvgChart.Line("Memory vs workers", "2 cores, Linux", "workers", "total PSS (MiB)", [1, 2, 4, 8], MemorySeries);

        XElement root = XDocument.Parse(svg).Root!;
        Assert.Equal(Svg + "svg", root.Name);
        string[] texts = [.. root.Descendants(Svg + "text").Select(t => t.Value)];
        Assert.Contains("Memory vs workers", texts);
        Assert.Contains("2 cores, Linux", texts);
        Assert.Contains("workers", texts);
        Assert.Contains("total PSS (MiB)", texts);
        Assert.Contains("copied", texts);
        Assert.Contains("shared", texts);
        Assert.Contains("dataset size", texts);
        Assert.Contains("1", texts);
        Assert.Contains("8", texts);
        XElement[] groups = [.. root.Descendants(Svg + "g").Where(g => g.Attribute("class")?.Value == "series")];
        Assert.Equal(["copied", "shared", "dataset size"], groups.Select(g => g.Attribute("data-name")!.Value));
        Assert.Equal(4, groups[0].Elements(Svg + "circle").Count());
        Assert.NotNull(groups[2].Element(Svg + "path")!.Attribute("stroke-dasharray"));
        Assert.Null(groups[0].Element(Svg + "path")!.Attribute("stroke-dasharray"));
    }

    [Fact]
    public void Line_TextWithMarkup_IsEscapedAndReadsBackUnchanged()
    {
        const string title = "a < b & \"c\" > 'd'";
        string svg = SvgChart.Line(title, "x\u0001y", "n", "MiB", [1, 2], [new SvgSeries("<copied>", [1, 2])]);

        XElement root = XDocument.Parse(svg).Root!;
        Assert.Equal(title, root.Element(Svg + "title")!.Value);
        Assert.Contains(root.Descendants(Svg + "text"), t => t.Value == "<copied>");
        Assert.Contains(root.Descendants(Svg + "text"), t => t.Value == "xy");
    }

    [Fact]
    public void Line_CultureWithDecimalComma_WritesInvariantNumbers()
    {
        CultureInfo previous = CultureInfo.CurrentCulture;
        var comma = (CultureInfo)CultureInfo.InvariantCulture.Clone();
        comma.NumberFormat.NumberDecimalSeparator = ",";
        comma.NumberFormat.NumberGroupSeparator = ".";
        CultureInfo.CurrentCulture = comma;
        string svg;
        try
        {
            svg = SvgChart.Line("t", "", "x", "y", [1, 2, 3], [new SvgSeries("s", [0.1, 0.2, 0.35])], new SvgChartOptions { XAsCategories = false });
        }
        finally
        {
            CultureInfo.CurrentCulture = previous;
        }

        XElement root = XDocument.Parse(svg).Root!;
        string[] coordinates = [.. root.Descendants().Attributes().Where(a => a.Name.LocalName is "x" or "y" or "x1" or "y1" or "cx" or "cy" or "width").Select(a => a.Value)];
        Assert.NotEmpty(coordinates);
        Assert.All(coordinates, value => Assert.True(double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out _), $"'{value}' is not an invariant number"));
        Assert.Contains(root.Descendants(Svg + "text"), t => t.Value == "0.1");
    }

    [Fact]
    public void Line_NaNValue_LeavesAGapInsteadOfAPoint()
    {
        string svg = SvgChart.Line("t", "", "x", "y", [1, 2, 4, 8], [new SvgSeries("s", [1, double.NaN, 3, 4])]);

        XElement series = XDocument.Parse(svg).Root!.Descendants(Svg + "g").Single(g => g.Attribute("data-name")?.Value == "s");
        Assert.Equal(3, series.Elements(Svg + "circle").Count());
        Assert.Equal(2, series.Element(Svg + "path")!.Attribute("d")!.Value.Count(c => c == 'M'));
    }

    [Fact]
    public void Bar_TwoSeriesAndAReference_OneBarPerValueAndADashedLine()
    {
        string svg = SvgChart.Bar("Ours vs CPython", "median of 5", "benchmark", "ratio", ["map", "submit", "start"],
            [new SvgSeries("ratio", [4.2, 7, 0.5]), new SvgSeries("second sitting", [6.5, 2.4, 0.6]), new SvgSeries("parity", [1, 1, 1], Dashed: true)]);

        XElement root = XDocument.Parse(svg).Root!;
        XElement[] groups = [.. root.Descendants(Svg + "g").Where(g => g.Attribute("class")?.Value == "series")];
        Assert.Equal(3, groups[0].Elements(Svg + "rect").Count());
        Assert.Equal(3, groups[1].Elements(Svg + "rect").Count());
        Assert.Empty(groups[2].Elements(Svg + "rect"));
        Assert.NotNull(groups[2].Element(Svg + "path")!.Attribute("stroke-dasharray"));
        Assert.Contains(root.Descendants(Svg + "text"), t => t.Value == "submit");
    }

    [Fact]
    public void Line_SeriesLengthDiffersFromX_ThrowsArgumentExceptionNamingTheSeries()
    {
        ArgumentException error = Assert.Throws<ArgumentException>(() =>
            SvgChart.Line("t", "", "x", "y", [1, 2, 4], [new SvgSeries("short one", [1, 2])]));

        Assert.Contains("short one", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Line_NoSeries_ThrowsArgumentException() =>
        Assert.Throws<ArgumentException>(() => SvgChart.Line("t", "", "x", "y", [1, 2], []));
}
