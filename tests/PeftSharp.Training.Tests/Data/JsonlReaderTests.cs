using System.Text;
using PeftSharp.Training.Data;

namespace PeftSharp.Training.Tests.Data;

public sealed class JsonlReaderTests
{
    private static List<DataRecord> ReadText(string content, DataReadOptions? options = null, DataReadReport? report = null, bool bom = false)
    {
        var bytes = Encoding.UTF8.GetBytes(content);
        if (bom)
        {
            bytes = [0xEF, 0xBB, 0xBF, .. bytes];
        }
        return [.. JsonlReader.Read(new MemoryStream(bytes), "data.jsonl", options, report)];
    }

    private static DataFormatException Fails(string content, DataReadOptions? options = null) =>
        Assert.Throws<DataFormatException>(() => ReadText(content, options));

    [Fact]
    public void Text_RecordsKeepLineNumbers_BlankLinesSkipped()
    {
        var records = ReadText("{\"text\": \"a\"}\n\n   \n{\"text\": \"b\\nc\", \"extra\": 1}\r\n{\"text\": \"ünï\"}");
        Assert.Equal(3, records.Count);
        var t = records.Cast<TextRecord>().ToList();
        Assert.Equal(["a", "b\nc", "ünï"], t.Select(r => r.Text));
        Assert.Equal([1L, 4L, 5L], t.Select(r => r.Line));
        Assert.All(t, r => Assert.Equal("data.jsonl", r.Source));
    }

    [Fact]
    public void ByteOrderMark_IsTolerated()
    {
        var records = ReadText("{\"text\": \"x\"}\n", bom: true);
        Assert.Equal("x", Assert.IsType<TextRecord>(Assert.Single(records)).Text);
    }

    [Fact]
    public void PromptCompletion_IsDetected()
    {
        var r = Assert.IsType<PromptCompletionRecord>(Assert.Single(ReadText("{\"prompt\": \"Q?\", \"completion\": \" A.\"}")));
        Assert.Equal(("Q?", " A."), (r.Prompt, r.Completion));
    }

    [Fact]
    public void Messages_AreReadWithExtraFields()
    {
        var r = Assert.IsType<ChatRecord>(Assert.Single(ReadText(
            "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"yo\", \"reasoning_content\": \"think\"}]}")));
        Assert.Equal(["user", "assistant"], r.Messages.Select(m => m.Role));
        Assert.Equal(["hi", "yo"], r.Messages.Select(m => m.Content));
        Assert.Null(r.Messages[0].Extra);
        var extra = Assert.Single(r.Messages[1].Extra!);
        Assert.Equal("reasoning_content", extra.Key);
        Assert.Equal("think", extra.Value.GetString());
    }

    [Fact]
    public void Classification_AcceptsNamesAndIntegers()
    {
        var records = ReadText("{\"text\": \"good\", \"label\": \"pos\"}\n{\"text\": \"bad\", \"label\": 3}").Cast<ClassificationRecord>().ToList();
        Assert.Equal(RawLabel.FromName("pos"), records[0].Label);
        Assert.Equal(RawLabel.FromId(3), records[1].Label);
    }

    [Fact]
    public void ExplicitFormat_OverridesDetection()
    {
        var records = ReadText("{\"text\": \"t\", \"label\": 1}", new DataReadOptions { Format = DataFormat.Text });
        Assert.IsType<TextRecord>(Assert.Single(records));
    }

    [Fact]
    public void WrongFieldType_NamesFileLineAndField()
    {
        var e = Fails("{\"prompt\": \"a\", \"completion\": \"b\"}\n{\"prompt\": \"a\", \"completion\": \"b\"}\n\n{\"prompt\": \"a\", \"completion\": 5}\n");
        Assert.Equal("data.jsonl", e.FilePath);
        Assert.Equal(4, e.LineNumber);
        Assert.StartsWith("expected a string in \"completion\", got number", e.Problem);
        Assert.StartsWith("data.jsonl: line 4: expected a string in \"completion\", got number", e.Message);
    }

    [Fact]
    public void MissingField_SaysWhichAndWhereTheFormatCameFrom()
    {
        var e = Fails("{\"text\": \"a\"}\n{\"prompt\": \"a\"}\n");
        Assert.Equal(2, e.LineNumber);
        Assert.Equal("missing \"text\" (the file's format is text, detected from line 1)", e.Problem);
    }

    [Fact]
    public void InvalidJson_GivesLineAndBytePosition()
    {
        var e = Fails("{\"text\": \"a\"}\n{\"text\": \"a\",}\n");
        Assert.Equal(2, e.LineNumber);
        Assert.StartsWith("not valid JSON at byte ", e.Problem);
    }

    [Fact]
    public void NonObjectLine_IsRejected()
    {
        var e = Fails("[1, 2]");
        Assert.Equal((1L, "expected a JSON object, got array"), (e.LineNumber, e.Problem));
    }

    [Fact]
    public void UnknownShape_ListsFieldsFound()
    {
        var e = Fails("{\"input\": \"a\", \"output\": \"b\"}");
        Assert.Contains("cannot tell the record format", e.Problem);
        Assert.Contains("\"input\", \"output\"", e.Problem);
    }

    [Theory]
    [InlineData("{\"messages\": []}", "\"messages\" is empty")]
    [InlineData("{\"messages\": {}}", "expected a list of messages in \"messages\", got object")]
    [InlineData("{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, 3]}", "expected an object in messages[1], got number")]
    [InlineData("{\"messages\": [{\"role\": \"user\", \"content\": null}]}", "expected a string in messages[0].content, got null")]
    [InlineData("{\"messages\": [{\"content\": \"x\"}]}", "missing messages[0].role")]
    [InlineData("{\"text\": \"a\", \"label\": 1.5}", "expected a string or a non-negative integer in \"label\", got number 1.5")]
    [InlineData("{\"text\": \"a\", \"label\": -1}", "expected a string or a non-negative integer in \"label\", got number -1")]
    [InlineData("{\"text\": \"a\", \"label\": true}", "expected a string or a non-negative integer in \"label\", got boolean")]
    public void MalformedRecord_HasSpecificProblem(string line, string problem)
    {
        var e = Fails("\n" + line);
        Assert.Equal(2, e.LineNumber);
        Assert.Equal(problem, e.Problem);
    }

    [Fact]
    public void InvalidUtf8_IsALineError()
    {
        var bytes = Encoding.UTF8.GetBytes("{\"text\": \"ok\"}\n{\"text\": \"\u00e9\"}\n").ToList();
        int i = bytes.IndexOf(0xC3);
        bytes[i] = 0xFF;
        var e = Assert.Throws<DataFormatException>(() => JsonlReader.Read(new MemoryStream(bytes.ToArray()), "bad.jsonl").ToList());
        Assert.Equal(2, e.LineNumber);
    }

    [Fact]
    public void SkipBadLines_CountsAndReportsEachProblem()
    {
        var report = new DataReadReport();
        var records = ReadText(
            "not json\n{\"text\": \"a\"}\n{\"text\": 1}\n{\"text\": \"b\"}\n[]\n{\"text\": \"c\"}",
            new DataReadOptions { SkipBadLines = true }, report);
        Assert.Equal(["a", "b", "c"], records.Cast<TextRecord>().Select(r => r.Text));
        Assert.Equal(3, report.SkippedLines);
        Assert.Equal([1L, 3L, 5L], report.Problems.Select(p => p.LineNumber));
        // Detection happens on the first valid record (line 2), not on the malformed first line.
        Assert.Contains("detected from line 2", report.Problems[1].Problem);
    }

    [Fact]
    public void HugeLine_IsRejectedWithoutReadingItWhole()
    {
        var options = new DataReadOptions { MaxLineBytes = 1024 };
        var big = "{\"text\": \"" + new string('x', 100_000) + "\"}";
        var e = Fails("{\"text\": \"a\"}\n" + big + "\n{\"text\": \"b\"}", options);
        Assert.Equal(2, e.LineNumber);
        Assert.Equal("line is longer than the limit of 1024 bytes", e.Problem);

        var report = new DataReadReport();
        var records = ReadText("{\"text\": \"a\"}\n" + big + "\n{\"text\": \"b\"}\n" + big, new DataReadOptions { MaxLineBytes = 1024, SkipBadLines = true }, report);
        Assert.Equal(["a", "b"], records.Cast<TextRecord>().Select(r => r.Text));
        Assert.Equal([2L, 4L], report.Problems.Select(p => p.LineNumber));
    }

    [Fact]
    public void HugeLine_InEndlessStream_FailsWithBoundedMemory()
    {
        // A stream that never ends and never has a line break: the reader must fail after the limit, not read forever.
        var options = new DataReadOptions { MaxLineBytes = 1 << 20 };
        var stream = new EndlessStream();
        var e = Assert.Throws<DataFormatException>(() => JsonlReader.Read(stream, "endless.jsonl", options).ToList());
        Assert.Equal(1, e.LineNumber);
        Assert.True(stream.BytesRead < (4L << 20), $"read {stream.BytesRead} bytes before failing");
    }

    [Fact]
    public void LineAtTheLimit_IsAccepted()
    {
        string line = "{\"text\": \"" + new string('y', 100) + "\"}";
        int bytes = Encoding.UTF8.GetByteCount(line);
        var records = ReadText(line + "\r\n" + line, new DataReadOptions { MaxLineBytes = bytes });
        Assert.Equal(2, records.Count);
        Assert.Throws<DataFormatException>(() => ReadText(line, new DataReadOptions { MaxLineBytes = bytes - 1 }));
    }

    [Fact]
    public void MissingFile_IsFileNotFound()
    {
        Assert.Throws<FileNotFoundException>(() => JsonlReader.Read("/nonexistent/data.jsonl").ToList());
    }

    private sealed class EndlessStream : Stream
    {
        public long BytesRead { get; private set; }
        public override int Read(byte[] buffer, int offset, int count)
        {
            buffer.AsSpan(offset, count).Fill((byte)'a');
            BytesRead += count;
            return count;
        }
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => BytesRead; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
