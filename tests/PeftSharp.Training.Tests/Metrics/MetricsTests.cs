using System.Globalization;
using System.Xml.Linq;
using PeftSharp.Training.Metrics;

namespace PeftSharp.Training.Tests.Metrics;

public class MetricsTests
{
    [Fact]
    public void Jsonl_WritesOneFlushedObjectPerLine_AndReadsBack()
    {
        using var dir = new TempDir();
        var path = Path.Combine(dir.Path, "metrics.jsonl");
        using (var w = new JsonlMetricsWriter(path))
        {
            w.Write(new MetricRecord(MetricRecord.Train, 1, new Dictionary<string, double> { ["loss"] = 2.5, ["lr"] = 1e-4 }));
            // Flushed: another reader sees the line while the writer is still open.
            Assert.Single(File.ReadAllLines(path));
            w.Write(new MetricRecord(MetricRecord.Eval, 2, new Dictionary<string, double> { ["loss"] = double.NaN }));
            w.Write(new MetricRecord(MetricRecord.Event, 2, new Dictionary<string, double>(), "diverged: \"loss\" is NaN"));
        }
        var lines = File.ReadAllLines(path);
        Assert.Equal(3, lines.Length);
        Assert.Equal("{\"type\":\"train\",\"step\":1,\"loss\":2.5,\"lr\":0.0001}", lines[0]);
        Assert.Equal("{\"type\":\"eval\",\"step\":2,\"loss\":null}", lines[1]);

        File.AppendAllText(path, "{\"type\":\"train\",\"st"); // a line cut short by a crash
        var records = JsonlMetricsWriter.Read(path);
        Assert.Equal(3, records.Count);
        Assert.Equal(1e-4, records[0].Get("lr"));
        Assert.True(double.IsNaN(records[1].Get("loss")!.Value));
        Assert.Equal("diverged: \"loss\" is NaN", records[2].Message);

        JsonlMetricsWriter.TruncateAfter(path, 1);
        Assert.Single(JsonlMetricsWriter.Read(path));
    }

    [Fact]
    public void Svg_IsWellFormed_WithBothPolylinesAxesTicksAndLegend()
    {
        var train = Enumerable.Range(1, 50).Select(i => ((long)i, 3.0 / Math.Sqrt(i))).ToList();
        train.Add((51, double.NaN));
        var validation = new List<(long, double)> { (10, 1.2), (20, 0.9), (30, 0.8), (40, 0.75), (50, 0.74) };
        var svg = LossCurvePlot.Render(train, validation, "LoRA <r=8> & friends");

        var doc = XDocument.Parse(svg); // throws when not well-formed
        XNamespace ns = "http://www.w3.org/2000/svg";
        Assert.Equal(ns + "svg", doc.Root!.Name);
        var polylines = doc.Descendants(ns + "polyline").ToList();
        Assert.Equal(2, polylines.Count);
        var trainPts = polylines.Single(p => (string?)p.Attribute("class") == "train-loss").Attribute("points")!.Value.Split(' ');
        var valPts = polylines.Single(p => (string?)p.Attribute("class") == "validation-loss").Attribute("points")!.Value.Split(' ');
        Assert.Equal(50, trainPts.Length); // the NaN point is left out
        Assert.Equal(5, valPts.Length);

        // Points stay inside the plot area and lower loss is drawn higher up (smaller y).
        var ys = trainPts.Select(p => double.Parse(p.Split(',')[1], CultureInfo.InvariantCulture)).ToArray();
        Assert.All(ys, y => Assert.InRange(y, 40, 480 - 56));
        Assert.True(ys[^1] > ys[0]);

        var texts = doc.Descendants(ns + "text").Select(t => t.Value).ToList();
        Assert.Contains("train loss", texts);
        Assert.Contains("validation loss", texts);
        Assert.Contains("step", texts);
        Assert.Contains("LoRA <r=8> & friends", texts);
        Assert.Contains("50", texts); // an x tick at the last step
        Assert.Contains(doc.Descendants(ns + "g"), g => (string?)g.Attribute("class") == "legend");
    }

    [Fact]
    public void Svg_HandlesEmptyAndSinglePointSeries()
    {
        XDocument.Parse(LossCurvePlot.Render([], []));
        var one = XDocument.Parse(LossCurvePlot.Render([(5, 1.0)], []));
        Assert.Single(one.Descendants(), e => e.Name.LocalName == "polyline");
    }

    [Theory]
    [InlineData(0, 1, 0, 1, 0.2)]
    [InlineData(1, 50, 0, 50, 10)]
    [InlineData(0.71, 3.0, 0.5, 3.0, 0.5)]
    public void NiceTicks_CoverTheRangeWithRoundSteps(double min, double max, double lo, double hi, double step)
    {
        var ticks = LossCurvePlot.NiceTicks(min, max, 6, out var l, out var h);
        Assert.Equal(lo, l, 12);
        Assert.Equal(hi, h, 12);
        Assert.Equal(step, ticks[1] - ticks[0], 12);
        Assert.Equal(lo, ticks[0], 12);
        Assert.Equal(hi, ticks[^1], 12);
    }
}
