using PeftSharp.Nn;

namespace PeftSharp.Peft.Core;

/// <summary>
/// Decides which modules an adapter configuration adapts, with Hugging Face PEFT 0.14's rules:
/// exclude_modules first (regex: full match; list: equal or "." suffix), then target_modules (same forms),
/// then, for list targets matched by suffix, layers_to_transform with the index captured by
/// <c>re.match(".*\.&lt;layers_pattern&gt;\.(\d+)\.", name)</c> (default pattern <c>[^.]*</c>).
/// "all-linear" becomes every linear layer's last name component except the output head.
/// </summary>
public static class TargetSelector
{
    /// <summary>
    /// Every module of the tree with its dotted path, treating adapter layers and modules_to_save wrappers as the
    /// modules they stand for (their insides are not candidates). The root ("") is not listed.
    /// </summary>
    public static IEnumerable<(string Path, Module Module)> LogicalModules(Module root)
    {
        var stack = new Stack<(string, Module)>();
        foreach (var (n, c) in root.Children().Reverse())
        {
            stack.Push((n, c));
        }
        while (stack.Count > 0)
        {
            var (path, m) = stack.Pop();
            yield return (path, m);
            if (m is AdapterLayer or ModulesToSaveWrapper)
            {
                continue;
            }
            foreach (var (n, c) in m.Children().Reverse())
            {
                stack.Push((path + "." + n, c));
            }
        }
    }

    /// <summary>The module underneath any wrapper.</summary>
    public static Module Unwrapped(Module m) => m switch
    {
        AdapterLayer l => l.BaseLayer,
        ModulesToSaveWrapper w => w.Original,
        _ => m,
    };

    /// <summary>Replaces the "all-linear" shorthand by the last name components of every linear-like module, minus output heads.</summary>
    public static ModuleSelector ResolveAllLinear(Module root, IReadOnlyCollection<string> outputHeads)
    {
        var names = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var (path, m) in LogicalModules(root))
        {
            if (Unwrapped(m) is ILinearLayer)
            {
                names.Add(path[(path.LastIndexOf('.') + 1)..]);
            }
        }
        foreach (var head in outputHeads)
        {
            names.Remove(head);
        }
        return ModuleSelector.List(names.ToArray());
    }

    /// <summary>True when the module at <paramref name="path"/> is excluded by exclude_modules.</summary>
    public static bool IsExcluded(string path, AdapterConfig config) => config.ExcludeModules?.Matches(path) == true;

    /// <summary>True when <paramref name="path"/> is selected by <paramref name="targets"/> and the layer filter, and not excluded.</summary>
    public static bool IsTargeted(string path, AdapterConfig config, ModuleSelector targets)
    {
        if (IsExcluded(path, config))
        {
            return false;
        }
        if (targets.Pattern is not null)
        {
            return targets.Matches(path);
        }
        if (targets.MatchesExactly(path))
        {
            return true;
        }
        if (!targets.Matches(path))
        {
            return false;
        }
        if (config.LayersToTransform is not { Count: > 0 } layers)
        {
            return true;
        }
        var index = LayerIndex(path, config.LayersPattern);
        return index is { } i && layers.Contains(i);
    }

    /// <summary>The layer index in a module path, found as Hugging Face PEFT finds it; null when there is none.</summary>
    public static int? LayerIndex(string path, IReadOnlyList<string>? layersPattern)
    {
        var patterns = layersPattern is { Count: > 0 } ? layersPattern.Select(p => @".*\." + p + @"\.(\d+)\.") : [@".*\.[^.]*\.(\d+)\."];
        foreach (var p in patterns)
        {
            if (PyRegex.MatchStart(p, path) is { } m && int.TryParse(m.Groups[1].ValueSpan, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var i))
            {
                return i;
            }
        }
        return null;
    }

    /// <summary>
    /// The value of the first key of a rank_pattern / alpha_pattern (in file order) for which
    /// <c>re.match(".*\." + key + "$", path)</c> succeeds, else an entry equal to the full path, else null.
    /// </summary>
    public static double? PatternValue(IReadOnlyList<KeyValuePair<string, double>> pattern, string path)
    {
        foreach (var (key, value) in pattern)
        {
            if (PyRegex.MatchStart(@".*\." + key + "$", path) is not null)
            {
                return value;
            }
        }
        foreach (var (key, value) in pattern)
        {
            if (key == path)
            {
                return value;
            }
        }
        return null;
    }

    /// <summary>
    /// Checks a rank (r, rank_pattern) / alpha (alpha_pattern) configuration as PEFT reads it: r and every rank in the
    /// pattern positive integers, every pattern key a regex <see cref="PatternValue"/> can compile.
    /// </summary>
    /// <exception cref="AdapterConfigException">Naming the field and the offending key or value.</exception>
    public static void ValidateRankPatterns(int r, string rField, IReadOnlyList<KeyValuePair<string, double>> rankPattern,
        string rankPatternField, IReadOnlyList<KeyValuePair<string, double>> alphaPattern)
    {
        if (r <= 0)
        {
            throw new AdapterConfigException(rField, $"must be a positive integer; got {r}.");
        }
        foreach (var (k, v) in rankPattern)
        {
            if (v <= 0 || v != System.Math.Floor(v))
            {
                throw new AdapterConfigException(rankPatternField, $"rank for \"{k}\" must be a positive integer; got {v}.");
            }
            _ = PyRegex.MatchStart(k, "");
        }
        foreach (var (k, _) in alphaPattern)
        {
            _ = PyRegex.MatchStart(k, "");
        }
    }

    /// <summary>
    /// The modules the configuration adapts, in tree order. Modules that match but that <paramref name="method"/>
    /// cannot adapt are an error naming them; a configuration that matches nothing is an error listing the names
    /// it could have matched.
    /// </summary>
    public static IReadOnlyList<(string Path, Module Module)> Select(Module root, AdapterConfig config, PeftMethod method, IReadOnlyCollection<string> outputHeads)
    {
        var targets = config.TargetModules ?? throw new AdapterConfigException(AdapterConfig.TargetModulesField, "is required.");
        if (targets.IsAllLinear)
        {
            targets = ResolveAllLinear(root, outputHeads);
        }
        var result = new List<(string, Module)>();
        foreach (var (path, m) in LogicalModules(root))
        {
            if (!IsTargeted(path, config, targets))
            {
                continue;
            }
            var inner = Unwrapped(m);
            if (m is AdapterLayer layer ? !method.CanAdapt(layer.BaseLayer) : !method.CanAdapt(inner))
            {
                throw new NotSupportedException($"Module \"{path}\" ({inner.Describe()}) matches target_modules {config.TargetModules} but {method.PeftType} cannot adapt a {inner.GetType().Name}.");
            }
            result.Add((path, m));
        }
        if (result.Count == 0)
        {
            var candidates = LogicalModules(root)
                .Where(t => method.CanAdapt(Unwrapped(t.Module)))
                .Select(t => t.Path)
                .ToArray();
            var shortNames = candidates.Select(p => p[(p.LastIndexOf('.') + 1)..]).Distinct(StringComparer.Ordinal);
            throw new AdapterConfigException(AdapterConfig.TargetModulesField,
                $"{config.TargetModules} (exclude_modules {config.ExcludeModules?.ToString() ?? "none"}, layers_to_transform {(config.LayersToTransform is null ? "none" : "[" + string.Join(", ", config.LayersToTransform) + "]")}) matched no module. " +
                $"Modules {config.PeftType} can adapt here: [{string.Join(", ", shortNames)}] ({candidates.Length} in all, e.g. {string.Join(", ", candidates.Take(6))}).");
        }
        return result;
    }

    /// <summary>Paths matched by modules_to_save: equal to an entry or ending with "." + entry.</summary>
    public static IReadOnlyList<(string Path, Module Module)> SelectModulesToSave(Module root, IReadOnlyList<string>? names)
    {
        if (names is not { Count: > 0 })
        {
            return [];
        }
        var sel = ModuleSelector.List(names.ToArray());
        return LogicalModules(root).Where(t => sel.Matches(t.Path) && t.Module is not AdapterLayer).ToArray();
    }
}
