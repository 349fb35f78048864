using PeftSharp.Models;
using PeftSharp.Tensors.Serialization;

namespace PeftSharp.Training.FineTuning;

/// <summary>What <see cref="AdapterMerge.Run"/> wrote.</summary>
public sealed record MergeResult(string OutputDirectory, string Architecture, int Adapters, int MergedModules, long Parameters, IReadOnlyList<string> CopiedFiles);

/// <summary>Folds adapters into a base model and writes the result as a plain Hugging Face model folder.</summary>
public static class AdapterMerge
{
    /// <summary>
    /// Loads the base model (float32), applies every adapter in <paramref name="adapterDirectories"/> (all active, so
    /// their updates add), merges them into the base weights and writes config.json + model.safetensors to
    /// <paramref name="outputDirectory"/>, with the model folder's other files (tokenizer, generation config) copied along.
    /// </summary>
    /// <exception cref="FineTuneException">No adapter, a missing folder, or the output folder is the model folder.</exception>
    public static MergeResult Run(string modelDirectory, IReadOnlyList<string> adapterDirectories, string outputDirectory)
    {
        if (adapterDirectories.Count == 0)
        {
            throw new FineTuneException("adapter: give at least one adapter folder to merge (--adapter DIR, repeatable).");
        }
        if (Path.GetFullPath(modelDirectory).TrimEnd(Path.DirectorySeparatorChar) == Path.GetFullPath(outputDirectory).TrimEnd(Path.DirectorySeparatorChar))
        {
            throw new FineTuneException("output: choose a folder other than the model folder; merging does not overwrite the base model.");
        }
        var model = ModelFolder.Load(modelDirectory);
        model.RequiresGrad(false);
        var peft = ModelFolder.AttachAdapters(model, adapterDirectories)!;
        int modules = peft.AdapterLayers().Count();
        var merged = (PretrainedModel)peft.MergeAndUnload();
        AutoModel.SavePretrained(merged, outputDirectory);
        var copied = new List<string>();
        foreach (var file in Directory.EnumerateFiles(modelDirectory))
        {
            var name = Path.GetFileName(file);
            if (name == HfConfig.FileName || name.EndsWith(".safetensors", StringComparison.Ordinal) || name == SafetensorsCheckpoint.IndexFileName
                || name.EndsWith(".bin", StringComparison.Ordinal) || name.StartsWith('.'))
            {
                continue;
            }
            File.Copy(file, Path.Combine(outputDirectory, name), overwrite: true);
            copied.Add(name);
        }
        return new MergeResult(Path.GetFullPath(outputDirectory), merged.ArchitectureName, adapterDirectories.Count, modules,
            merged.NamedParameters().Sum(p => (long)p.Parameter.Numel), copied);
    }
}
