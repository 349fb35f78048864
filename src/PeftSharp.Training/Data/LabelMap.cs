using System.Globalization;

namespace PeftSharp.Training.Data;

/// <summary>
/// Numbers class labels. With an explicit label list (e.g. a model's <c>id2label</c>), a label name maps to its index
/// in the list and an integer label must be a valid index. Without one, integer labels are used as they are
/// (<see cref="Count"/> = largest + 1) and label names are numbered in <see cref="LabelOrder"/> (ordinal sort by
/// default, so the numbering does not depend on the file's order). A file mixing names and integers needs the list.
/// </summary>
public sealed class LabelMap
{
    /// <summary>Largest number of classes accepted (a guard against a label like 4000000000 allocating a huge map).</summary>
    public const int MaxLabels = 1 << 20;

    private readonly Dictionary<string, int> _byName;

    private LabelMap(IReadOnlyList<string> names, bool explicitList)
    {
        Names = names;
        IsExplicit = explicitList;
        _byName = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < names.Count; i++)
        {
            if (!_byName.TryAdd(names[i], i))
            {
                throw new ArgumentException($"The label list names \"{names[i]}\" twice (at {_byName[names[i]]} and {i}).");
            }
        }
    }

    /// <summary>Label names by id.</summary>
    public IReadOnlyList<string> Names { get; }

    /// <summary>Number of classes.</summary>
    public int Count => Names.Count;

    /// <summary>Whether the map came from an explicit label list.</summary>
    public bool IsExplicit { get; }

    /// <summary>A map from an explicit list of label names (id = index).</summary>
    /// <exception cref="ArgumentException">The list is empty, too long, or names a label twice.</exception>
    public static LabelMap FromNames(IReadOnlyList<string> names)
    {
        ArgumentNullException.ThrowIfNull(names);
        if (names.Count == 0 || names.Count > MaxLabels)
        {
            throw new ArgumentException($"A label list needs between 1 and {MaxLabels} names; got {names.Count}.", nameof(names));
        }
        return new LabelMap(names.ToArray(), explicitList: true);
    }

    /// <summary>A map from a model config's <c>id2label</c>: ids must be exactly 0..n-1.</summary>
    /// <exception cref="ArgumentException">Ids are missing, negative or repeated.</exception>
    public static LabelMap FromId2Label(IReadOnlyDictionary<int, string> id2label)
    {
        ArgumentNullException.ThrowIfNull(id2label);
        var names = new string[id2label.Count];
        foreach (var (id, name) in id2label)
        {
            if (id < 0 || id >= names.Length)
            {
                throw new ArgumentException($"id2label must number its labels 0..{names.Length - 1}; found id {id}.", nameof(id2label));
            }
            names[id] = name;
        }
        return FromNames(names);
    }

    /// <summary>Builds the map from the labels of <paramref name="records"/>.</summary>
    /// <exception cref="DataFormatException">Names and integers are mixed, or an integer label is beyond <see cref="MaxLabels"/>; names the record.</exception>
    public static LabelMap Build(IEnumerable<ClassificationRecord> records, LabelOrder order = LabelOrder.Sorted)
    {
        ArgumentNullException.ThrowIfNull(records);
        ClassificationRecord? first = null;
        var seen = new List<string>();
        var distinct = new HashSet<string>(StringComparer.Ordinal);
        long maxId = -1;
        foreach (var r in records)
        {
            first ??= r;
            if (r.Label.IsName != first.Label.IsName)
            {
                throw new DataFormatException(r.Source, r.Line,
                    $"label {r.Label} is {(r.Label.IsName ? "a name" : "an integer")} but the label on line {first.Line} is {(first.Label.IsName ? "a name" : "an integer")}; use one kind, or give the list of label names");
            }
            if (r.Label.IsName)
            {
                if (distinct.Add(r.Label.Name!))
                {
                    seen.Add(r.Label.Name!);
                    if (seen.Count > MaxLabels)
                    {
                        throw new DataFormatException(r.Source, r.Line, $"more than {MaxLabels} distinct labels");
                    }
                }
            }
            else
            {
                if (r.Label.Id >= MaxLabels)
                {
                    throw new DataFormatException(r.Source, r.Line, $"label {r.Label.Id} is beyond the limit of {MaxLabels} classes");
                }
                maxId = Math.Max(maxId, r.Label.Id);
            }
        }
        if (first is null)
        {
            throw new ArgumentException("No records to take labels from.", nameof(records));
        }
        if (!first.Label.IsName)
        {
            return new LabelMap(Enumerable.Range(0, (int)maxId + 1).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToArray(), explicitList: false);
        }
        if (order == LabelOrder.Sorted)
        {
            seen.Sort(StringComparer.Ordinal);
        }
        return new LabelMap(seen, explicitList: false);
    }

    /// <summary>The id of a record's label.</summary>
    /// <exception cref="DataFormatException">The label is not in the map; names the record.</exception>
    public int IdOf(ClassificationRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        var label = record.Label;
        if (label.IsName)
        {
            if (_byName.TryGetValue(label.Name!, out int id))
            {
                return id;
            }
            throw new DataFormatException(record.Source, record.Line,
                $"unknown label {label} (known: {string.Join(", ", Names.Take(20).Select(n => $"\"{n}\""))}{(Count > 20 ? ", ..." : "")})");
        }
        if (label.Id < Count)
        {
            return (int)label.Id;
        }
        throw new DataFormatException(record.Source, record.Line, $"label {label.Id} is out of range for {Count} classes (0..{Count - 1})");
    }
}
