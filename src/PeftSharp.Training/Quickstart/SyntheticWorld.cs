using PeftSharp.Tensors;

namespace PeftSharp.Training.Quickstart;

/// <summary>
/// A small, fully generated world of people, animals, things and places. It provides the pretraining corpus of
/// the embedded quickstart model (short stories) and a held-out fine-tuning task the corpus never shows: naming the
/// kind of a word (name, animal, thing, place, color, feeling) — for words the fine-tuning never asks about.
/// Everything is derived from a seed, so the corpus and the task are reproducible byte for byte.
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
    public static readonly string[] TaskWords = ["question", "answer", "what", "kind", "of", "word", "name", "animal", "thing", "place", "color", "feeling", ":", "?"];

    private static readonly string[] Function = ["the", "a", "and", "was", "were", "to", "it", "he", "she", "they", "in", "at", "with", "very", "then", "is", "of", "day", "played", "gave", "said", "looked", "so", "too", "home", "big", "small", ".", ","];

    /// <summary>Every word of the world, in a fixed order (the tokenizer's vocabulary after the special tokens).</summary>
    public static IReadOnlyList<string> Vocabulary { get; } =
        Names.Concat(Animals).Concat(Things).Concat(Places).Concat(Colors).Concat(Feelings).Concat(Verbs).Concat(Moves)
            .Concat(Function).Concat(TaskWords).Distinct().ToArray();

    private static string Pick(Rng rng, string[] words) => words[rng.NextInt(words.Length)];

    /// <summary>The people, animals, things and place of one story; an entity keeps its color throughout the story.</summary>
    private sealed record Cast(string[] People, (string Animal, string Color)[] Pets, (string Thing, string Color)[] Things, string Place, string Feeling);

    private static Cast NewCast(Rng rng)
    {
        string[] Distinct(string[] words, int n)
        {
            var chosen = new List<string>();
            while (chosen.Count < n)
            {
                var w = Pick(rng, words);
                if (!chosen.Contains(w))
                {
                    chosen.Add(w);
                }
            }
            return chosen.ToArray();
        }
        var people = Distinct(Names, 2);
        var animals = Distinct(Animals, 2);
        var things = Distinct(Things, 2);
        var colors = Distinct(Colors, 4);
        return new Cast(people, [(animals[0], colors[0]), (animals[1], colors[1])], [(things[0], colors[2]), (things[1], colors[3])],
            Pick(rng, Places), Pick(rng, Feelings));
    }

    /// <summary>One sentence about the cast, from a small grammar. Entities recur with their attributes, so reading the context pays.</summary>
    private static string Sentence(Rng rng, Cast cast)
    {
        string n = cast.People[rng.NextInt(2)], n2 = cast.People[rng.NextInt(2)];
        var (a, ac) = cast.Pets[rng.NextInt(2)];
        var (t, tc) = cast.Things[rng.NextInt(2)];
        string p = rng.NextInt(3) == 0 ? Pick(rng, Places) : cast.Place;
        string f = rng.NextInt(2) == 0 ? cast.Feeling : Pick(rng, Feelings);
        string v = Pick(rng, Verbs), m = Pick(rng, Moves);
        return rng.NextInt(14) switch
        {
            0 => $"{n} {m} to the {p} .",
            1 => $"{n} saw a {ac} {a} in the {p} .",
            2 => $"the {a} was {f} .",
            3 => $"{n} {v} the {tc} {t} .",
            4 => $"{n} gave the {t} to {n2} .",
            5 => $"it was a {f} day at the {p} .",
            6 => $"{n} and {n2} played with the {tc} {t} .",
            7 => $"the {t} is {tc} and the {a} is {ac} .",
            8 => $"{n} looked at the {ac} {a} , it was very {f} .",
            9 => $"then {n} {m} home with the {tc} {t} .",
            10 => $"{n} said the {a} was {ac} .",
            11 => $"the {ac} {a} and the {tc} {t} were in the {p} .",
            12 => $"{n} was {f} so {n} {m} to the {p} .",
            _ => $"the {ac} {a} {v} the {t} at the {p} .",
        };
    }

    /// <summary>A short story: 4–8 sentences about one cast, on one line.</summary>
    public static string Story(Rng rng)
    {
        var cast = NewCast(rng);
        int count = 4 + rng.NextInt(5);
        return string.Join(' ', Enumerable.Range(0, count).Select(_ => Sentence(rng, cast)));
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

    /// <summary>The word categories of the fine-tuning task, with the label word the model must answer.</summary>
    public static readonly (string Label, string[] Words)[] Categories =
    [
        ("name", Names), ("animal", Animals), ("thing", Things), ("place", Places), ("color", Colors), ("feeling", Feelings),
    ];

    /// <summary>
    /// Whether a word is held out of fine-tuning (every fourth word of each category): test questions ask only about
    /// these, so a correct answer shows the model generalising what it learned about words during pretraining.
    /// </summary>
    public static bool IsHeldOut(string[] category, string word) => Array.IndexOf(category, word) % 4 == 0;

    private static QaExample Ask(string word, string label) => new($"question : what kind of word is {word} ? answer :", label);

    /// <summary>
    /// The fine-tuning task, never shown in pretraining: name the kind of a word ("question : what kind of word is
    /// fox ? answer :" → "animal"). The six label words never occur in the corpus. Training questions use three
    /// quarters of each category's words; <see cref="TestQuestions"/> asks about the other quarter.
    /// </summary>
    public static QaExample Question(Rng rng)
    {
        while (true)
        {
            var (label, words) = Categories[rng.NextInt(Categories.Length)];
            var word = Pick(rng, words);
            if (!IsHeldOut(words, word))
            {
                return Ask(word, label);
            }
        }
    }

    /// <summary>One question about every held-out word.</summary>
    public static IReadOnlyList<QaExample> TestQuestions() =>
        Categories.SelectMany(c => c.Words.Where(w => IsHeldOut(c.Words, w)).Select(w => Ask(w, c.Label))).ToArray();

    /// <summary>A deterministic list of task examples.</summary>
    public static IReadOnlyList<QaExample> Questions(ulong seed, int count)
    {
        var rng = new Rng(seed);
        return Enumerable.Range(0, count).Select(_ => Question(rng)).ToArray();
    }
}
