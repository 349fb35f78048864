namespace PeftSharp.Training.Data;

/// <summary>
/// Splits a byte stream into lines (LF or CRLF) without ever holding more than one line of at most
/// <c>maxLineBytes</c>: a longer line is reported as too long and its bytes are discarded as they arrive.
/// A UTF-8 byte-order mark at the start is dropped.
/// </summary>
internal sealed class LineReader : IDisposable
{
    private const int ChunkSize = 64 << 10;
    private readonly Stream _stream;
    private readonly int _maxLineBytes;
    private byte[] _buffer = new byte[ChunkSize];
    private int _start, _end;
    private bool _eof, _bomChecked, _discarding;

    public LineReader(Stream stream, int maxLineBytes)
    {
        _stream = stream;
        _maxLineBytes = maxLineBytes;
    }

    /// <summary>1-based number of the line last returned.</summary>
    public long LineNumber { get; private set; }

    public enum Status { Line, TooLong, End }

    /// <summary>The next line (without its line break) as a slice of an internal buffer valid until the next call.</summary>
    public Status Next(out ArraySegment<byte> line)
    {
        line = default;
        if (_discarding)
        {
            DiscardRestOfLine();
            _discarding = false;
        }
        int scanned = 0;
        while (true)
        {
            int nl = Array.IndexOf(_buffer, (byte)'\n', _start + scanned, _end - _start - scanned);
            if (nl >= 0)
            {
                LineNumber++;
                int stop = nl > _start && _buffer[nl - 1] == '\r' ? nl - 1 : nl;
                line = new ArraySegment<byte>(_buffer, _start, stop - _start);
                _start = nl + 1;
                return line.Count > _maxLineBytes ? Status.TooLong : Status.Line;
            }
            scanned = _end - _start;
            // One byte of slack for the CR of a CRLF ending.
            if (scanned > _maxLineBytes + 1)
            {
                // The rest of the line is dropped on the next call, so a caller that stops here reads no further.
                LineNumber++;
                _start = _end = 0;
                _discarding = true;
                return Status.TooLong;
            }
            if (_eof)
            {
                if (_start == _end)
                {
                    return Status.End;
                }
                LineNumber++;
                int stop = _buffer[_end - 1] == '\r' ? _end - 1 : _end;
                line = new ArraySegment<byte>(_buffer, _start, stop - _start);
                _start = _end;
                return line.Count > _maxLineBytes ? Status.TooLong : Status.Line;
            }
            Fill();
        }
    }

    /// <summary>Reads more bytes after the pending ones, compacting or growing the buffer (never beyond the line limit plus a chunk).</summary>
    private void Fill()
    {
        int pending = _end - _start;
        if (_start > 0)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, pending);
            _start = 0;
            _end = pending;
        }
        if (_end == _buffer.Length)
        {
            long grown = Math.Min((long)_buffer.Length * 2, (long)_maxLineBytes + 2 + ChunkSize);
            Array.Resize(ref _buffer, (int)Math.Max(grown, _buffer.Length + 1));
        }
        int read = _stream.Read(_buffer, _end, _buffer.Length - _end);
        if (read == 0)
        {
            _eof = true;
            return;
        }
        _end += read;
        if (!_bomChecked)
        {
            // The first fill: make sure three bytes (or the whole stream) are in before looking for a BOM.
            while (_end < 3 && (read = _stream.Read(_buffer, _end, _buffer.Length - _end)) > 0)
            {
                _end += read;
            }
            _bomChecked = true;
            if (_end >= 3 && _buffer[0] == 0xEF && _buffer[1] == 0xBB && _buffer[2] == 0xBF)
            {
                _start = 3;
            }
        }
    }

    /// <summary>Drops bytes up to and including the next line feed (or the end of the stream), keeping only what follows it.</summary>
    private void DiscardRestOfLine()
    {
        while (true)
        {
            int nl = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
            if (nl >= 0)
            {
                _start = nl + 1;
                return;
            }
            _start = _end = 0;
            if (_eof)
            {
                return;
            }
            int read = _stream.Read(_buffer, 0, _buffer.Length);
            if (read == 0)
            {
                _eof = true;
                return;
            }
            _end = read;
        }
    }

    public void Dispose() => _stream.Dispose();
}
