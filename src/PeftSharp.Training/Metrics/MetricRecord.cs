namespace PeftSharp.Training.Metrics;

/// <summary>
/// One line of <c>metrics.jsonl</c>: <c>{"type": "train", "step": 10, "loss": 1.93, "lr": 0.0002, ...}</c>.
/// <see cref="Type"/> is "train", "eval" or "event"; <see cref="Values"/> are the numbers (a non-finite value is
/// written as JSON null, since JSON has no NaN); <see cref="Message"/> is optional text (events).
/// </summary>
public sealed record MetricRecord(string Type, long Step, IReadOnlyDictionary<string, double> Values, string? Message = null)
{
    public const string Train = "train";
    public const string Eval = "eval";
    public const string Event = "event";

    /// <summary>A value by name, or null when absent.</summary>
    public double? Get(string name) => Values.TryGetValue(name, out var v) ? v : null;
}
