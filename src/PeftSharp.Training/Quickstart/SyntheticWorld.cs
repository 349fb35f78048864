using PeftSharp.Tensors;

namespace PeftSharp.Training.Quickstart;

/// <summary>
/// A small, fully generated world of people, animals, things and places. It provides the pretraining corpus of
/// the embedded quickstart model (short stories) and a held-out fine-tuning task the corpus never shows: reading a
/// one-sentence story and answering "what color was the X ?". Everything is derived from a seed, so the corpus and
/// the task are reproducible byte for byte.
/// </summary>
public static class SyntheticWorld
{
    public static readonly string[] Names = ["tom", "mia", "sam", "lily", "max", "zoe", "ben", "ana", "leo", "eva", "kai", "ivy"];
    public static readonly string[] Animals = ["cat", "dog", "bird", "fox", "fish", "cow", "horse", "duck", "frog", "bear", "goat", "owl"];
    public static readonly string[] Things = ["ball", "book", "cup", "hat", "box", "kite", "apple", "cake", "drum", "lamp", "boat", "car"];
    public static readonly string[] Places = ["park", "house", "school", "garden", "river", "shop", "farm", "forest", "beach", "town", "lake", "hill"];
    public static readonly string[] Colors = ["red", "blue", "green", "yellow", "black", "white", "brown", "pink", "gray", "orange"];
    public static readonly string[] Feelings = ["happy", "sad", "angry", "calm", "tired", "glad", "scared", "proud", "sleepy", "busy"];
    public static readonly string[] Verbs = ["saw", "found", "liked", "took", "lost", "wanted", "made", "had"];
    public static readonly string[] Moves = ["went", "walked", "ran", "came"];

    /// <summary>The words the question-answering task adds (they also occur in the corpus, in other roles).</summary>
    public static readonly string[] TaskWords = ["question", "answer", "what", "color", ":", "?"];

    private static readonly string[] Function = ["the", "a", "and", "was", "to", "it", "he", "she", "they", "in", "at", "with", "very", "then", "is", "of", "day", "played", "gave", "said", "looked", "so", "too", "home", "big", "small", ".", ","];

    /// <summary>Every word of the world, in a fixed order (the tokenizer's vocabulary after the special tokens).</summary>
    public static IReadOnlyList<string> Vocabulary { get; } =
        Names.Concat(Animals).Concat(Things).Concat(Places).Concat(Colors).Concat(Feelings).Concat(Verbs).Concat(Moves)
            .Concat(Function).Concat(TaskWords).Distinct().ToArray();

    private static string Pick(Rng rng, string[] words) => words[rng.NextInt(words.Length)];

    /// <summary>One pretraining sentence from a small grammar.</summary>
    public static string Sentence(Rng rng)
    {
        string n = Pick(rng, Names), n2 = Pick(rng, Names), a = Pick(rng, Animals), t = Pick(rng, Things), p = Pick(rng, Places);
        string c = Pick(rng, Colors), c2 = Pick(rng, Colors), f = Pick(rng, Feelings), v = Pick(rng, Verbs), m = Pick(rng, Moves);
        return rng.NextInt(14) switch
        {
            0 => $"{n} {m} to the {p} .",
            1 => $"{n} saw a {c} {a} in the {p} .",
            2 => $"the {a} was {f} .",
            3 => $"{n} {v} the {c} {t} .",
            4 => $"{n} gave the {t} to {n2} .",
            5 => $"it was a {f} day at the {p} .",
            6 => $"{n} and {n2} played with the {c} {t} .",
            7 => $"the {t} is {c} and the {a} is {c2} .",
            8 => $"{n} looked at the {a} , it was very {f} .",
            9 => $"then {n} {m} home with a {c} {t} .",
            10 => $"{n} said the {a} was {c} .",
            11 => $"a {c} {a} and a {c2} {a} played in the {p} .",
            12 => $"{n} was {f} so {n} {m} to the {p} .",
            _ => $"the {c} {a} {v} a {t} at the {p} .",
        };
    }

    /// <summary>A short story: 3–6 sentences on one line.</summary>
    public static string Story(Rng rng)
    {
        int count = 3 + rng.NextInt(4);
        return string.Join(' ', Enumerable.Range(0, count).Select(_ => Sentence(rng)));
    }

    /// <summary>The pretraining corpus: <paramref name="stories"/> stories, one per line.</summary>
    public static IEnumerable<string> Corpus(ulong seed, int stories)
    {
        var rng = new Rng(seed);
        for (int i = 0; i < stories; i++)
        {
            yield return Story(rng);
        }
    }

    /// <summary>A question-answering example: a prompt ending in "answer :" and the one-word answer.</summary>
    public sealed record QaExample(string Prompt, string Answer);

    /// <summary>
    /// The fine-tuning task, a question about a one-sentence story in a format the corpus never shows:
    /// "kai saw a orange goat in the park . question : what color was the goat ? answer :" → "orange".
    /// Train and test examples come from disjoint seeds, so a test story is new to the model.
    /// </summary>
    public static QaExample Question(Rng rng)
    {
        string n = Pick(rng, Names), a = Pick(rng, Animals), c = Pick(rng, Colors), p = Pick(rng, Places);
        return new QaExample($"{n} saw a {c} {a} in the {p} . question : what color was the {a} ? answer :", c);
    }

    /// <summary>A deterministic list of task examples.</summary>
    public static IReadOnlyList<QaExample> Questions(ulong seed, int count)
    {
        var rng = new Rng(seed);
        return Enumerable.Range(0, count).Select(_ => Question(rng)).ToArray();
    }
}
