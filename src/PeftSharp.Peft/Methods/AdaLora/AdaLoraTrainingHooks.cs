using PeftSharp.Peft.Core;
using PeftSharp.Tensors;

namespace PeftSharp.Peft.Methods.AdaLora;

/// <summary>
/// AdaLoRA's training-time behaviour for its trainable adapter: the orthogonality penalty added to the loss and, after
/// each optimizer step, Hugging Face's update_and_allocate (scores, budget, pruning; the allocation fixed at
/// total_step − tfinal and re-applied afterwards).
/// </summary>
internal sealed class AdaLoraTrainingHooks : IAdapterTrainingHooks
{
    private readonly PeftModel _model;
    private readonly string _adapter;
    private readonly List<(AdaLoraLayer Layer, RankAllocator.Triplets Triplets)> _layers = new();
    private RankAllocator? _allocator;

    public AdaLoraTrainingHooks(PeftModel model, string adapter)
    {
        _model = model;
        _adapter = adapter;
        foreach (var (path, layer) in model.AdapterLayers())
        {
            if (layer is AdaLoraLayer l && l.HasAdapter(adapter))
            {
                var a = l.Adapter(adapter);
                _layers.Add((l, new RankAllocator.Triplets(path + "." + AdaLoraLayer.EName, a.A, a.E, a.B)));
            }
        }
    }

    private AdaLoraConfig Config => (AdaLoraConfig)_model.Configs[_adapter];

    /// <summary>orth_reg_weight × mean over every A and B of ‖C − I‖_F, with C = A·Aᵀ for A and C = Bᵀ·B for B.</summary>
    public Tensor? AuxiliaryLoss()
    {
        if (_layers.Count == 0)
        {
            return null;
        }
        Tensor? sum = null;
        foreach (var (_, t) in _layers)
        {
            int r = t.A.Dim(0);
            var eye = Oft.OrthogonalBlocks.Identity(r);
            var ca = Tensor.MatMul(t.A, t.A.T).Sub(eye).Norm();
            var cb = Tensor.MatMul(t.B.T, t.B).Sub(eye).Norm();
            var both = ca.Add(cb);
            sum = sum is null ? both : sum.Add(both);
        }
        return sum!.Mul((float)(Config.OrthRegWeight / (2 * _layers.Count)));
    }

    public void AfterOptimizerStep(long step)
    {
        var config = Config;
        config.ValidateSchedule();
        _allocator ??= new RankAllocator(config, _layers.Select(l => l.Triplets).ToArray());
        long final = config.TotalStep!.Value - config.Tfinal;
        if (step < final)
        {
            if (_allocator.UpdateAndAllocate(step) is { } pattern)
            {
                Record(config, pattern);
            }
        }
        else if (step == final)
        {
            Record(config, _allocator.UpdateAndAllocate(step, forceMask: true)!);
            _allocator.ResetImportance();
        }
        else if (config.RankPattern is { } fixedPattern)
        {
            foreach (var (_, t) in _layers)
            {
                if (fixedPattern.TryGetValue(t.Key, out var keep) && keep.Length == t.E.Dim(0))
                {
                    RankAllocator.ZeroPruned(t.E, keep);
                }
            }
        }
    }

    /// <summary>Stores the allocation in the configuration (saved as rank_pattern) and on each layer (saving keeps only the kept triplets).</summary>
    private void Record(AdaLoraConfig config, Dictionary<string, bool[]> pattern)
    {
        _model.UpdateConfig(_adapter, config with { RankPattern = pattern });
        foreach (var (layer, t) in _layers)
        {
            layer.Adapter(_adapter).KeptMask = pattern[t.Key];
        }
    }
}
