using PeftSharp.Training.Quickstart;
using Xunit.Abstractions;
namespace PeftSharp.Training.Tests;
public class ScratchProbe2(ITestOutputHelper output)
{
    [Fact]
    public void Show()
    {
        foreach (var s in SyntheticWorld.Corpus(20261122, 3)) output.WriteLine(s);
    }
}
