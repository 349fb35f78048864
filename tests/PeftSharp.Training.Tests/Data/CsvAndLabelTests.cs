using System.Text;
using PeftSharp.Training.Data;

namespace PeftSharp.Training.Tests.Data;

public sealed class CsvAndLabelTests
{
    private static List<ClassificationRecord> Read(string content, DataReadOptions? options = null, DataReadReport? report = null) =>
        [.. CsvReader.Read(new MemoryStream(Encoding.UTF8.GetBytes(content)), "data.csv", options, report)];

    [Fact]
    public void Rfc4180_QuotingDelimitersNewlinesAndDoubledQuotes()
    {
        var records = Read(
            "id,text,label\r\n" +
            "1,plain,pos\r\n" +
            "2,\"with, comma\",neg\r\n" +
            "3,\"say \"\"hi\"\"\",pos\r\n" +
            "4,\"two\nlines\",neg\n" +
            "5,,pos\n" +
            "6,\"\",neg");
        Assert.Equal(["plain", "with, comma", "say \"hi\"", "two\nlines", "", ""], records.Select(r => r.Text));
        Assert.Equal([2L, 3L, 4L, 5L, 7L, 8L], records.Select(r => r.Line));
        Assert.Equal(RawLabel.FromName("neg"), records[1].Label);
    }

    [Fact]
    public void ColumnsAreFoundByConfigurableName()
    {
        var records = Read("Sentence ; Sentiment\n\"a;b\";1\n", new DataReadOptions { TextColumn = "sentence", LabelColumn = "SENTIMENT", CsvDelimiter = ';' });
        var r = Assert.Single(records);
        Assert.Equal(("a;b", RawLabel.FromId(1)), (r.Text, r.Label));
    }

    [Fact]
    public void MissingColumn_NamesTheHeader()
    {
        var e = Assert.Throws<DataFormatException>(() => Read("text,target\na,b\n"));
        Assert.Equal(1, e.LineNumber);
        Assert.Equal("the header has no column \"label\" (columns: \"text\", \"target\")", e.Problem);
    }

    [Theory]
    [InlineData("text,label\na,b,c\n", 2, "expected 2 fields as in the header (line 1), found 3")]
    [InlineData("text,label\nab\"c\",x\n", 2, "a quote inside unquoted field 1 (quote the whole field and double inner quotes)")]
    [InlineData("text,label\n\"ab\"c,x\n", 2, "unexpected character 'c' after the closing quote of field 1")]
    [InlineData("text,label\na,x\n\"open,x\nmore\n", 3, "a quoted field is not closed before the end of the file")]
    [InlineData("text,label\na,\n", 2, "the label (column \"label\") is empty")]
    public void MalformedRow_NamesLineAndProblem(string csv, long line, string problem)
    {
        var e = Assert.Throws<DataFormatException>(() => Read(csv));
        Assert.Equal((line, problem), (e.LineNumber, e.Problem));
        Assert.StartsWith($"data.csv: line {line}: ", e.Message);
    }

    [Fact]
    public void SkipBadLines_CountsRows()
    {
        var report = new DataReadReport();
        var records = Read("text,label\na,1\nb,2,3\nc\"d,1\nd,0\n", new DataReadOptions { SkipBadLines = true }, report);
        Assert.Equal(["a", "d"], records.Select(r => r.Text));
        Assert.Equal(2, report.SkippedLines);
        Assert.Equal([3L, 4L], report.Problems.Select(p => p.LineNumber));
    }

    [Fact]
    public void HugeRecord_IsRejected()
    {
        var e = Assert.Throws<DataFormatException>(() => Read("text,label\n\"" + new string('x', 5000) + "\",1\n", new DataReadOptions { MaxLineBytes = 1000 }));
        Assert.Equal(2, e.LineNumber);
        Assert.Contains("longer than the limit of 1000", e.Problem);
    }

    [Fact]
    public void DataSet_LoadsCsvByExtension_AndTsvWithTabs()
    {
        using var dir = new TempDir();
        var csv = Path.Combine(dir.Path, "d.csv");
        File.WriteAllText(csv, "\uFEFFtext,label\nx,pos\n");
        var set = DataSet.Load(csv);
        Assert.Equal(DataFormat.Classification, set.Format);
        Assert.Equal("x", ((ClassificationRecord)set.Records[0]).Text);
        var tsv = Path.Combine(dir.Path, "d.tsv");
        File.WriteAllText(tsv, "text\tlabel\nx, y\t2\n");
        Assert.Equal("x, y", ((ClassificationRecord)DataSet.Load(tsv).Records[0]).Text);
    }

    [Fact]
    public void DataSet_EmptyOrAllBad_IsAnError()
    {
        using var dir = new TempDir();
        var p = Path.Combine(dir.Path, "d.jsonl");
        File.WriteAllText(p, "\n\n");
        Assert.Equal("the file holds no records", Assert.Throws<DataFormatException>(() => DataSet.Load(p)).Problem);
        File.WriteAllText(p, "x\ny\n");
        var e = Assert.Throws<DataFormatException>(() => DataSet.Load(p, new DataReadOptions { SkipBadLines = true }));
        Assert.StartsWith("no valid record (2 malformed lines skipped", e.Problem);
    }

    private static ClassificationRecord Rec(long line, RawLabel label) => new("f.jsonl", line, "t", label);

    [Fact]
    public void Labels_NamesSortedOrFirstSeen()
    {
        var records = new[] { Rec(1, RawLabel.FromName("neg")), Rec(2, RawLabel.FromName("pos")), Rec(3, RawLabel.FromName("neutral")), Rec(4, RawLabel.FromName("neg")) };
        var sorted = LabelMap.Build(records);
        Assert.Equal(["neg", "neutral", "pos"], sorted.Names);
        Assert.Equal([0, 2, 1, 0], records.Select(sorted.IdOf));
        var firstSeen = LabelMap.Build(records, LabelOrder.FirstSeen);
        Assert.Equal(["neg", "pos", "neutral"], firstSeen.Names);
        Assert.Equal([0, 1, 2, 0], records.Select(firstSeen.IdOf));
    }

    [Fact]
    public void Labels_IntegersUsedAsIds()
    {
        var records = new[] { Rec(1, RawLabel.FromId(2)), Rec(2, RawLabel.FromId(0)) };
        var map = LabelMap.Build(records);
        Assert.Equal(3, map.Count);
        Assert.Equal([2, 0], records.Select(map.IdOf));
    }

    [Fact]
    public void Labels_MixedKinds_NameTheLine()
    {
        var e = Assert.Throws<DataFormatException>(() => LabelMap.Build([Rec(1, RawLabel.FromName("a")), Rec(7, RawLabel.FromId(1))]));
        Assert.Equal(7, e.LineNumber);
        Assert.Contains("the label on line 1 is a name", e.Problem);
    }

    [Fact]
    public void Labels_ExplicitListFromId2Label()
    {
        var map = LabelMap.FromId2Label(new Dictionary<int, string> { [1] = "POSITIVE", [0] = "NEGATIVE" });
        Assert.Equal(["NEGATIVE", "POSITIVE"], map.Names);
        Assert.Equal(1, map.IdOf(Rec(1, RawLabel.FromName("POSITIVE"))));
        Assert.Equal(0, map.IdOf(Rec(1, RawLabel.FromId(0))));
        var unknown = Assert.Throws<DataFormatException>(() => map.IdOf(Rec(9, RawLabel.FromName("meh"))));
        Assert.Equal((9L, "unknown label \"meh\" (known: \"NEGATIVE\", \"POSITIVE\")"), (unknown.LineNumber, unknown.Problem));
        var range = Assert.Throws<DataFormatException>(() => map.IdOf(Rec(3, RawLabel.FromId(2))));
        Assert.Equal("label 2 is out of range for 2 classes (0..1)", range.Problem);
        Assert.Throws<ArgumentException>(() => LabelMap.FromId2Label(new Dictionary<int, string> { [0] = "a", [2] = "b" }));
    }

    [Fact]
    public void Labels_HugeIntegerIsRejected()
    {
        var e = Assert.Throws<DataFormatException>(() => LabelMap.Build([Rec(4, RawLabel.FromId(4_000_000_000))]));
        Assert.Equal(4, e.LineNumber);
    }
}
