using System.CommandLine;
using PeftSharp.Cli.Rendering;
using PeftSharp.Training.Quickstart;

namespace PeftSharp.Cli.Commands;

/// <summary>
/// <c>peft pretrain</c>: the reproducible recipe behind the embedded quickstart model — generates the synthetic
/// corpus, writes the tokenizer and trains the small Llama from scratch. Resumes from its checkpoints if interrupted.
/// </summary>
public static class PretrainCommand
{
    public static Command Create()
    {
        var output = new Option<string>("--output") { Description = "Folder for the model (config.json, model.safetensors, tokenizer files) and checkpoints.", Required = true };
        var steps = new Option<long>("--steps") { Description = "Optimizer steps.", DefaultValueFactory = _ => new PretrainOptions().Steps };
        var stories = new Option<int>("--stories") { Description = "Stories in the generated corpus.", DefaultValueFactory = _ => new PretrainOptions().Stories };
        var lr = new Option<double>("--lr") { Description = "Peak learning rate (cosine schedule with warmup).", DefaultValueFactory = _ => new PretrainOptions().LearningRate };
        var seed = new Option<ulong>("--seed") { Description = "Seed of the corpus, initialisation and shuffling.", DefaultValueFactory = _ => new PretrainOptions().Seed };
        var command = new Command("pretrain", "Pretrain the small quickstart base model from scratch on the generated corpus (the recipe of the embedded model).");
        command.Options.Add(output);
        command.Options.Add(steps);
        command.Options.Add(stories);
        command.Options.Add(seed);
        command.Options.Add(lr);
        command.SetAction((parse, ct) =>
        {
            var options = new PretrainOptions { Steps = parse.GetValue(steps), Stories = parse.GetValue(stories), Seed = parse.GetValue(seed), LearningRate = parse.GetValue(lr) };
            var dir = parse.GetValue(output)!;
            var view = new TrainingView("pretrain");
            var result = view.Run(options.Steps, progress => Pretraining.Run(dir, options, progress, ct));
            TrainingView.PrintSummary(result);
            System.Console.WriteLine($"model written to {Path.GetFullPath(dir)}");
            return Task.FromResult(0);
        });
        return command;
    }
}
