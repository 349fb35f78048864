using System.Globalization;
using System.Security;
using System.Text;

namespace PeftSharp.Training.Metrics;

/// <summary>
/// Renders training and validation loss against step as a standalone SVG image: axes with "nice" ticks
/// (1, 2 or 5 × 10ᵏ), grid lines, one polyline per series (validation points also get markers) and a legend.
/// Non-finite points are left out. No external libraries; the output is well-formed XML.
/// </summary>
public static class LossCurvePlot
{
    private const double Width = 800, Height = 480;
    private const double Left = 72, Right = 24, Top = 40, Bottom = 56;
    private const string TrainColor = "#1f77b4";
    private const string ValidationColor = "#ff7f0e";

    /// <summary>Writes the plot to <paramref name="path"/> (replacing it atomically).</summary>
    public static void Write(string path, IReadOnlyList<(long Step, double Loss)> train, IReadOnlyList<(long Step, double Loss)> validation, string title = "Loss")
    {
        var svg = Render(train, validation, title);
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var temp = full + "." + Guid.NewGuid().ToString("N") + ".tmp";
        File.WriteAllText(temp, svg, new UTF8Encoding(false));
        File.Move(temp, full, overwrite: true);
    }

    /// <summary>Builds the SVG document text.</summary>
    public static string Render(IReadOnlyList<(long Step, double Loss)> train, IReadOnlyList<(long Step, double Loss)> validation, string title = "Loss")
    {
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(validation);
        var t = train.Where(p => double.IsFinite(p.Loss)).ToArray();
        var v = validation.Where(p => double.IsFinite(p.Loss)).ToArray();
        var all = t.Concat(v).ToArray();

        double xMin = all.Length > 0 ? all.Min(p => p.Step) : 0, xMax = all.Length > 0 ? all.Max(p => p.Step) : 1;
        double yMin = all.Length > 0 ? all.Min(p => p.Loss) : 0, yMax = all.Length > 0 ? all.Max(p => p.Loss) : 1;
        var xTicks = NiceTicks(xMin, xMax, 8, out xMin, out xMax);
        var yTicks = NiceTicks(yMin, yMax, 6, out yMin, out yMax);
        double plotW = Width - Left - Right, plotH = Height - Top - Bottom;
        double X(double step) => Left + (step - xMin) / (xMax - xMin) * plotW;
        double Y(double loss) => Top + (1 - (loss - yMin) / (yMax - yMin)) * plotH;

        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{Height}\" viewBox=\"0 0 {Width} {Height}\" font-family=\"sans-serif\" font-size=\"12\">\n");
        sb.Append("  <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
        sb.Append(CultureInfo.InvariantCulture, $"  <text x=\"{Width / 2}\" y=\"24\" text-anchor=\"middle\" font-size=\"16\">{Escape(title)}</text>\n");

        sb.Append("  <g class=\"grid\" stroke=\"#e0e0e0\" stroke-width=\"1\">\n");
        foreach (var x in xTicks)
        {
            sb.Append(CultureInfo.InvariantCulture, $"    <line x1=\"{F(X(x))}\" y1=\"{F(Top)}\" x2=\"{F(X(x))}\" y2=\"{F(Top + plotH)}\"/>\n");
        }
        foreach (var y in yTicks)
        {
            sb.Append(CultureInfo.InvariantCulture, $"    <line x1=\"{F(Left)}\" y1=\"{F(Y(y))}\" x2=\"{F(Left + plotW)}\" y2=\"{F(Y(y))}\"/>\n");
        }
        sb.Append("  </g>\n");

        sb.Append("  <g class=\"axes\" stroke=\"black\" stroke-width=\"1\">\n");
        sb.Append(CultureInfo.InvariantCulture, $"    <line x1=\"{F(Left)}\" y1=\"{F(Top + plotH)}\" x2=\"{F(Left + plotW)}\" y2=\"{F(Top + plotH)}\"/>\n");
        sb.Append(CultureInfo.InvariantCulture, $"    <line x1=\"{F(Left)}\" y1=\"{F(Top)}\" x2=\"{F(Left)}\" y2=\"{F(Top + plotH)}\"/>\n");
        foreach (var x in xTicks)
        {
            sb.Append(CultureInfo.InvariantCulture, $"    <line x1=\"{F(X(x))}\" y1=\"{F(Top + plotH)}\" x2=\"{F(X(x))}\" y2=\"{F(Top + plotH + 5)}\"/>\n");
        }
        foreach (var y in yTicks)
        {
            sb.Append(CultureInfo.InvariantCulture, $"    <line x1=\"{F(Left - 5)}\" y1=\"{F(Y(y))}\" x2=\"{F(Left)}\" y2=\"{F(Y(y))}\"/>\n");
        }
        sb.Append("  </g>\n");

        sb.Append("  <g class=\"tick-labels\" fill=\"black\">\n");
        foreach (var x in xTicks)
        {
            sb.Append(CultureInfo.InvariantCulture, $"    <text x=\"{F(X(x))}\" y=\"{F(Top + plotH + 20)}\" text-anchor=\"middle\">{Label(x)}</text>\n");
        }
        foreach (var y in yTicks)
        {
            sb.Append(CultureInfo.InvariantCulture, $"    <text x=\"{F(Left - 8)}\" y=\"{F(Y(y) + 4)}\" text-anchor=\"end\">{Label(y)}</text>\n");
        }
        sb.Append(CultureInfo.InvariantCulture, $"    <text x=\"{F(Left + plotW / 2)}\" y=\"{F(Height - 12)}\" text-anchor=\"middle\">step</text>\n");
        sb.Append(CultureInfo.InvariantCulture, $"    <text x=\"16\" y=\"{F(Top + plotH / 2)}\" text-anchor=\"middle\" transform=\"rotate(-90 16 {F(Top + plotH / 2)})\">loss</text>\n");
        sb.Append("  </g>\n");

        void Series(string cls, (long Step, double Loss)[] pts, string color, bool markers)
        {
            if (pts.Length == 0)
            {
                return;
            }
            sb.Append(CultureInfo.InvariantCulture, $"  <polyline class=\"{cls}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\" points=\"");
            for (int i = 0; i < pts.Length; i++)
            {
                sb.Append(i == 0 ? "" : " ").Append(F(X(pts[i].Step))).Append(',').Append(F(Y(pts[i].Loss)));
            }
            sb.Append("\"/>\n");
            if (markers)
            {
                sb.Append(CultureInfo.InvariantCulture, $"  <g class=\"{cls}-markers\" fill=\"{color}\">\n");
                foreach (var p in pts)
                {
                    sb.Append(CultureInfo.InvariantCulture, $"    <circle cx=\"{F(X(p.Step))}\" cy=\"{F(Y(p.Loss))}\" r=\"3\"/>\n");
                }
                sb.Append("  </g>\n");
            }
        }
        Series("train-loss", t, TrainColor, markers: false);
        Series("validation-loss", v, ValidationColor, markers: true);

        double lx = Left + plotW - 150, ly = Top + 10;
        sb.Append("  <g class=\"legend\">\n");
        sb.Append(CultureInfo.InvariantCulture, $"    <rect x=\"{F(lx)}\" y=\"{F(ly)}\" width=\"140\" height=\"46\" fill=\"white\" stroke=\"#999\"/>\n");
        sb.Append(CultureInfo.InvariantCulture, $"    <line x1=\"{F(lx + 10)}\" y1=\"{F(ly + 15)}\" x2=\"{F(lx + 34)}\" y2=\"{F(ly + 15)}\" stroke=\"{TrainColor}\" stroke-width=\"2\"/>\n");
        sb.Append(CultureInfo.InvariantCulture, $"    <text x=\"{F(lx + 40)}\" y=\"{F(ly + 19)}\">train loss</text>\n");
        sb.Append(CultureInfo.InvariantCulture, $"    <line x1=\"{F(lx + 10)}\" y1=\"{F(ly + 33)}\" x2=\"{F(lx + 34)}\" y2=\"{F(ly + 33)}\" stroke=\"{ValidationColor}\" stroke-width=\"2\"/>\n");
        sb.Append(CultureInfo.InvariantCulture, $"    <circle cx=\"{F(lx + 22)}\" cy=\"{F(ly + 33)}\" r=\"3\" fill=\"{ValidationColor}\"/>\n");
        sb.Append(CultureInfo.InvariantCulture, $"    <text x=\"{F(lx + 40)}\" y=\"{F(ly + 37)}\">validation loss</text>\n");
        sb.Append("  </g>\n");
        sb.Append("</svg>\n");
        return sb.ToString();
    }

    /// <summary>
    /// Ticks at multiples of a 1/2/5 × 10ᵏ spacing covering [min, max] with about <paramref name="target"/> intervals;
    /// the axis range is widened to the outer ticks. A degenerate range (one value) is widened around it.
    /// </summary>
    internal static List<double> NiceTicks(double min, double max, int target, out double lo, out double hi)
    {
        if (max - min < 1e-12 * Math.Max(1, Math.Abs(max)))
        {
            double pad = Math.Abs(min) > 0 ? Math.Abs(min) * 0.1 : 1;
            min -= pad;
            max += pad;
        }
        double raw = (max - min) / target;
        double mag = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        double f = raw / mag;
        double step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
        lo = Math.Floor(min / step) * step;
        hi = Math.Ceiling(max / step) * step;
        var ticks = new List<double>();
        for (int i = 0; lo + i * step <= hi + step * 1e-9; i++)
        {
            // Multiplying (not accumulating) keeps ticks free of drift; rounding removes 0.30000000000000004.
            ticks.Add(Math.Round(lo + i * step, 12));
        }
        return ticks;
    }

    private static string F(double v) => v.ToString("0.##", CultureInfo.InvariantCulture);

    private static string Label(double v) => v.ToString("G6", CultureInfo.InvariantCulture);

    private static string Escape(string s) => SecurityElement.Escape(s) ?? "";
}
