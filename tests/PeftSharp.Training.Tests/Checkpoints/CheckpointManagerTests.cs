using PeftSharp.Tensors;
using PeftSharp.Training.Checkpoints;
using PeftSharp.Training.Schedules;

namespace PeftSharp.Training.Tests.Checkpoints;

public class CheckpointManagerTests
{
    private static (string, Tensor)[] Params(float seed) =>
    [
        ("layer.weight", Tensor.FromArray([seed, seed + 1, seed + 2, seed + 3, seed + 4, seed + 5], 2, 3)),
        ("layer.bias", Tensor.FromArray([-seed, seed * 0.5f], 2)),
    ];

    private static TrainerState State(long step) => new()
    {
        Step = step,
        Epoch = 1,
        DataPosition = new DataPosition(1, 7 + step),
        Scheduler = new SchedulerState("cosine", 2, 100, step),
        RngStates = { ["dropout"] = [ulong.MaxValue, 1, 2, 0x8000_0000_0000_0001UL] },
        BestMetric = 0.125,
        BestStep = step - 1,
        EvaluationsWithoutImprovement = 2,
        ConfigHash = "abc123",
        Tokens = 4096,
    };

    private static Dictionary<string, Tensor> OptimizerState(float seed) => new()
    {
        ["layer.weight.exp_avg"] = Tensor.FromArray([seed, 2, 3, 4, 5, 6], 2, 3),
        ["layer.weight.step"] = Tensor.FromInts([3]),
    };

    private static string SaveAt(CheckpointManager m, long step) =>
        m.Save(State(step), Params(step).Select(p => KeyValuePair.Create(p.Item1, p.Item2)), OptimizerState(step));

    [Fact]
    public void SaveThenLoad_RoundTripsTensorsAndState()
    {
        using var dir = new TempDir();
        var manager = new CheckpointManager(dir.Path);
        var path = SaveAt(manager, 10);
        Assert.Equal(Path.Combine(dir.Path, "checkpoint-10"), path);
        Assert.Equal("checkpoint-10", File.ReadAllText(Path.Combine(dir.Path, CheckpointManager.LatestFile)).Trim());

        var loaded = CheckpointManager.Load(dir.Path);
        Assert.Equal(path, loaded.Path);
        var s = loaded.State;
        Assert.Equal(10, s.Step);
        Assert.Equal(new DataPosition(1, 17), s.DataPosition);
        Assert.Equal(new SchedulerState("cosine", 2, 100, 10), s.Scheduler);
        Assert.Equal(new[] { ulong.MaxValue, 1UL, 2UL, 0x8000_0000_0000_0001UL }, s.RngStates["dropout"]);
        Assert.Equal(0.125, s.BestMetric);
        Assert.Equal(9, s.BestStep);
        Assert.Equal(2, s.EvaluationsWithoutImprovement);
        Assert.Equal("abc123", s.ConfigHash);
        Assert.Equal(4096, s.Tokens);
        Assert.Equal(new[] { 10f, 2, 3, 4, 5, 6 }, loaded.Optimizer["layer.weight.exp_avg"].ToArray());
        Assert.Equal(new[] { 3 }, loaded.Optimizer["layer.weight.step"].ToIntArray());

        var targets = Params(0);
        loaded.CopyTrainableInto(targets);
        for (int i = 0; i < targets.Length; i++)
        {
            Assert.Equal(Params(10)[i].Item2.ToArray(), targets[i].Item2.ToArray());
        }

        // The JSON is snake_case with the RNG words as plain numbers.
        var json = File.ReadAllText(Path.Combine(path, CheckpointManager.StateFile));
        Assert.Contains("\"data_position\"", json);
        Assert.Contains("18446744073709551615", json);
    }

    [Fact]
    public void Save_KeepsOnlyTheNewestCheckpoints()
    {
        using var dir = new TempDir();
        var manager = new CheckpointManager(dir.Path, keepLast: 2);
        foreach (var step in new long[] { 5, 10, 15, 20 })
        {
            SaveAt(manager, step);
        }
        Assert.Equal(new long[] { 15, 20 }, manager.List().Select(c => c.Step));
        Assert.Equal(["checkpoint-15", "checkpoint-20", "latest"], Directory.GetFileSystemEntries(dir.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void ExceptionMidWrite_LeavesPreviousCheckpointLoadable_AndPublishesNothing()
    {
        using var dir = new TempDir();
        var manager = new CheckpointManager(dir.Path);
        SaveAt(manager, 10);
        var ex = Assert.Throws<IOException>(() => manager.Save(State(20), Params(20).Select(p => KeyValuePair.Create(p.Item1, p.Item2)), OptimizerState(20),
            writeExtra: folder =>
            {
                File.WriteAllText(Path.Combine(folder, "adapter_config.json"), "{");
                throw new IOException("disk full (simulated)");
            }));
        Assert.Equal("disk full (simulated)", ex.Message);
        Assert.Equal(new long[] { 10 }, manager.List().Select(c => c.Step));
        Assert.False(Directory.Exists(Path.Combine(dir.Path, "checkpoint-20")));
        Assert.Empty(Directory.GetDirectories(dir.Path, ".tmp-*"));
        var loaded = CheckpointManager.Load(dir.Path);
        Assert.Equal(10, loaded.State.Step);
    }

    [Fact]
    public void LatestResolution_IgnoresIncompleteOrCorruptNewerFolders()
    {
        using var dir = new TempDir();
        var manager = new CheckpointManager(dir.Path);
        SaveAt(manager, 10);
        SaveAt(manager, 20);
        // A half-copied newer folder (no optimizer state) and one whose state file is truncated.
        var partial = Directory.CreateDirectory(Path.Combine(dir.Path, "checkpoint-30")).FullName;
        File.Copy(Path.Combine(dir.Path, "checkpoint-20", CheckpointManager.TrainableFile), Path.Combine(partial, CheckpointManager.TrainableFile));
        var corrupt = Path.Combine(dir.Path, "checkpoint-40");
        CopyDirectory(Path.Combine(dir.Path, "checkpoint-20"), corrupt);
        File.WriteAllText(Path.Combine(corrupt, CheckpointManager.StateFile), "{\"step\": 40, \"data_pos");
        // A leftover temporary folder from a crashed write.
        CopyDirectory(Path.Combine(dir.Path, "checkpoint-20"), Path.Combine(dir.Path, ".tmp-checkpoint-50-dead"));

        Assert.Equal(Path.Combine(dir.Path, "checkpoint-20"), manager.FindLatest());
        Assert.Equal(20, CheckpointManager.Load(dir.Path).State.Step);
        var e = Assert.Throws<CheckpointException>(() => CheckpointManager.Load(corrupt));
        Assert.Contains(CheckpointManager.StateFile, e.Message);
    }

    [Fact]
    public void SavingTheSameStepAgain_ReplacesIt()
    {
        using var dir = new TempDir();
        var manager = new CheckpointManager(dir.Path);
        SaveAt(manager, 10);
        var state = State(10);
        state.Tokens = 99;
        manager.Save(state, Params(10).Select(p => KeyValuePair.Create(p.Item1, p.Item2)), OptimizerState(10));
        Assert.Equal(99, CheckpointManager.Load(dir.Path).State.Tokens);
        Assert.Single(manager.List());
    }

    [Fact]
    public void Load_ReportsMismatchedParametersByName()
    {
        using var dir = new TempDir();
        var manager = new CheckpointManager(dir.Path);
        SaveAt(manager, 3);
        var loaded = CheckpointManager.Load(dir.Path);
        (string, Tensor)[] wrong = [("layer.weight", Tensor.Zeros(3, 2)), ("other.weight", Tensor.Zeros(1))];
        var e = Assert.Throws<CheckpointException>(() => loaded.CopyTrainableInto(wrong));
        Assert.Contains("'layer.weight' is saved as F32 [2, 3] but the parameter is [3, 2]", e.Message);
        Assert.Contains("'other.weight' is missing", e.Message);
        Assert.Contains("'layer.bias' is in the checkpoint but is not a trainable parameter", e.Message);
        Assert.Equal(new float[3 * 2], wrong[0].Item2.ToArray());

        var missing = Assert.Throws<CheckpointException>(() => CheckpointManager.Load(Path.Combine(dir.Path, "nowhere")));
        Assert.Contains("no such folder", missing.Message);
        var empty = Directory.CreateDirectory(Path.Combine(dir.Path, "empty")).FullName;
        Assert.Contains("no complete checkpoint-<step>", Assert.Throws<CheckpointException>(() => CheckpointManager.Load(empty)).Message);
    }

    [Fact]
    public void ReadState_RejectsUnknownVersionsAndBadRngStates()
    {
        using var dir = new TempDir();
        var p = Path.Combine(dir.Path, "s.json");
        File.WriteAllText(p, "{\"format_version\": 7, \"step\": 1}");
        Assert.Contains("format version 7", Assert.Throws<CheckpointException>(() => CheckpointManager.ReadState(p)).Message);
        File.WriteAllText(p, "{\"format_version\": 1, \"rng_states\": {\"dropout\": [1, 2]}}");
        Assert.Contains("'dropout' must have 4 words", Assert.Throws<CheckpointException>(() => CheckpointManager.ReadState(p)).Message);
        File.WriteAllText(p, "null");
        Assert.Throws<CheckpointException>(() => CheckpointManager.ReadState(p));
    }

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var f in Directory.GetFiles(from))
        {
            File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
        }
    }
}
