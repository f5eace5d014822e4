using System.Buffers;
using System.IO.Pipelines;
using System.Text.Json;
using System.Threading.Channels;
using Cdp.Protocol;
using Cdp.Server.Engine;
using Cdp.Server.Http;
using Cdp.Server.Journal;

namespace Cdp.Server.Import;

/// <summary>
/// Runs one import: reads rows from a stream as they arrive (one row at a time, at most
/// <see cref="Hosting.CdpOptions.MaxFrameBodyBytes"/> per row), parses them on the reading task and
/// applies each as one write through the engine on <see cref="ImportWorker"/>s, one per core (so a row
/// is applied whole or not at all, exactly as the same message over HTTP would be), reports bad rows
/// with their line numbers, and completes once everything applied is durable. Memory is bounded by
/// the batches in flight, whatever the size of the file.
/// </summary>
public sealed class ImportRunner
{
    readonly ProfileEngine engine;
    readonly ImportJob job;
    readonly int maxRowBytes;
    readonly List<string> fields = [];
    readonly ImportWorker[] workers;
    readonly RowBatch?[] filling;
    readonly Channel<RowBatch> free = Channel.CreateUnbounded<RowBatch>();
    byte[] rowBuffer = new byte[4096];
    byte[] droppedRow = [];
    int droppedLength;
    int rowLength;
    long rowStartLine;
    CsvMapping? csv;
    readonly string? csvMapping;

    ImportRunner(ProfileEngine engine, ImportJob job, string? csvMapping)
    {
        this.engine = engine;
        this.job = job;
        this.csvMapping = csvMapping;
        maxRowBytes = engine.Options.MaxFrameBodyBytes;
        workers = new ImportWorker[Math.Max(1, Math.Min(Environment.ProcessorCount, 8))];
        for (int i = 0; i < workers.Length; i++)
            workers[i] = new ImportWorker(engine, job, free);
        filling = new RowBatch?[workers.Length];
    }

    /// <summary>
    /// Imports <paramref name="input"/> (<c>ndjson</c> of Segment Spec messages, or <c>csv</c> of
    /// identify rows with a header) into the engine, updating <paramref name="job"/> as it goes.
    /// Throws <see cref="EngineException"/> when the CSV header or mapping is unusable (nothing
    /// applied); any other failure ends the job as failed, keeping what was applied.
    /// </summary>
    public static async Task RunAsync(ProfileEngine engine, ImportJob job, PipeReader input, string? csvMapping, CancellationToken cancellationToken)
    {
        var runner = new ImportRunner(engine, job, csvMapping);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        foreach (var w in runner.workers)
        {
            w.Start(stop.Token);
            // A worker that fails (the journal refused a write) must stop the reader, which may be
            // waiting for room in that worker's queue.
            _ = w.Running.ContinueWith(static (_, state) => ((CancellationTokenSource)state!).Cancel(), stop,
                CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
        Exception? failure = null;
        try
        {
            await runner.ReadAllAsync(input, stop.Token);
            for (int i = 0; i < runner.workers.Length; i++)
                if (runner.filling[i] is { Count: > 0 } batch)
                    await runner.workers[i].EnqueueAsync(batch, stop.Token);
        }
        catch (Exception e)
        {
            failure = e;
            stop.Cancel();
        }
        foreach (var w in runner.workers)
            w.Complete();
        try
        {
            await Task.WhenAll(runner.workers.Select(w => w.Running));
        }
        catch (Exception) when (failure is not null)
        {
            // Reported below: a worker's own failure first, else the reader's.
        }
        var workerFailure = runner.workers.Select(w => w.Running.Exception?.InnerException).FirstOrDefault(e => e is not null and not OperationCanceledException);
        if ((workerFailure ?? failure) is { } first)
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(first);
        long last = runner.workers.Max(w => w.LastAddress);
        if (last >= 0)
            await engine.Journal.WaitForCommitAsync(last, cancellationToken);
    }

    async Task ReadAllAsync(PipeReader input, CancellationToken cancellationToken)
    {
        long line = 0;
        bool skipping = false; // inside a row that is too long: drop bytes up to its end
        var skipped = new CsvQuoteScanner(); // CSV: where the skipped record ends
        bool first = true;
        while (true)
        {
            var read = await input.ReadAsync(cancellationToken);
            var buffer = read.Buffer;
            if (first)
            {
                // A UTF-8 byte order mark (spreadsheet exports write one) is not part of the first row.
                if (buffer.Length < 3 && !read.IsCompleted)
                {
                    input.AdvanceTo(buffer.Start, buffer.End);
                    continue;
                }
                first = false;
                if (buffer.Length >= 3 && buffer.FirstSpan.Length >= 3 && buffer.FirstSpan[..3].SequenceEqual("\uFEFF"u8))
                {
                    job.CountBytes(3);
                    buffer = buffer.Slice(3);
                }
            }
            while (true)
            {
                var newline = buffer.PositionOf((byte)'\n');
                if (newline is null)
                    break;
                var piece = buffer.Slice(0, newline.Value);
                job.CountBytes(piece.Length + 1);
                buffer = buffer.Slice(buffer.GetPosition(1, newline.Value));
                line++;
                if (skipping)
                {
                    if (job.Format == "csv")
                    {
                        skipped.Feed(piece.IsSingleSegment ? piece.FirstSpan : piece.ToArray());
                        skipped.Feed("\n"u8);
                        if (skipped.InQuotedField)
                            continue; // the too-long record goes on over this line break
                    }
                    skipping = false;
                    continue;
                }
                if (rowLength == 0)
                    rowStartLine = line;
                if (!Append(piece))
                {
                    Reject(ErrorCode.TooLong, $"the row is longer than {maxRowBytes} bytes.", null);
                    if (job.Format == "csv")
                    {
                        // Append dropped the record so far; its quoting decides where it ends.
                        skipped = new CsvQuoteScanner();
                        skipped.Feed(droppedRow.AsSpan(0, droppedLength));
                        skipped.Feed(piece.IsSingleSegment ? piece.FirstSpan : piece.ToArray());
                        skipped.Feed("\n"u8);
                        skipping = skipped.InQuotedField;
                    }
                    continue;
                }
                if (job.Format == "csv" && !CsvRecord.IsComplete(rowBuffer.AsSpan(0, rowLength)))
                {
                    // A quoted field goes on over the line break: keep it.
                    rowBuffer[rowLength++] = (byte)'\n';
                    continue;
                }
                await ProcessRowAsync(cancellationToken);
                rowLength = 0;
            }
            if (!skipping && buffer.Length + rowLength > maxRowBytes)
            {
                // No line end within the limit: the row is rejected and the rest of it skipped.
                // Its line is counted when its line end arrives.
                if (rowLength == 0)
                    rowStartLine = line + 1;
                job.CountBytes(buffer.Length);
                skipped = new CsvQuoteScanner();
                skipped.Feed(rowBuffer.AsSpan(0, rowLength));
                skipped.Feed(buffer.IsSingleSegment ? buffer.FirstSpan : buffer.ToArray());
                Reject(ErrorCode.TooLong, $"the row is longer than {maxRowBytes} bytes.", null);
                rowLength = 0;
                skipping = true;
                buffer = buffer.Slice(buffer.End);
            }
            else if (skipping)
            {
                job.CountBytes(buffer.Length);
                skipped.Feed(buffer.IsSingleSegment ? buffer.FirstSpan : buffer.ToArray());
                buffer = buffer.Slice(buffer.End);
            }
            if (read.IsCompleted)
            {
                // The last row may have no line end.
                if (!skipping && (buffer.Length > 0 || rowLength > 0))
                {
                    line++;
                    job.CountBytes(buffer.Length);
                    if (rowLength == 0)
                        rowStartLine = line;
                    if (!Append(buffer))
                        Reject(ErrorCode.TooLong, $"the row is longer than {maxRowBytes} bytes.", null);
                    else
                    {
                        if (job.Format == "csv" && !CsvRecord.IsComplete(rowBuffer.AsSpan(0, rowLength)))
                            Reject(ErrorCode.Malformed, "the file ends inside a quoted field.", null);
                        else
                            await ProcessRowAsync(cancellationToken);
                    }
                }
                input.AdvanceTo(read.Buffer.End);
                if (job.Format == "csv" && csv is null)
                    throw EngineException.BadRequest(ErrorCode.Missing, "the CSV has no header row.", "header");
                return;
            }
            input.AdvanceTo(buffer.Start, read.Buffer.End);
        }
    }

    bool Append(in ReadOnlySequence<byte> piece)
    {
        long needed = rowLength + piece.Length + 1;
        if (needed > maxRowBytes + 1)
        {
            // Kept for the CSV quote scan of the rejected record.
            (droppedRow, rowBuffer) = (rowBuffer, droppedRow.Length >= rowBuffer.Length ? droppedRow : new byte[rowBuffer.Length]);
            droppedLength = rowLength;
            rowLength = 0;
            return false;
        }
        if (needed > rowBuffer.Length)
            Array.Resize(ref rowBuffer, (int)Math.Min(Math.Max(needed, rowBuffer.Length * 2L), maxRowBytes + 1));
        piece.CopyTo(rowBuffer.AsSpan(rowLength));
        rowLength += (int)piece.Length;
        return true;
    }

    async ValueTask ProcessRowAsync(CancellationToken cancellationToken)
    {
        var row = rowBuffer.AsSpan(0, rowLength);
        if (row.Trim((byte)'\r').Trim((byte)' ').IsEmpty)
            return; // blank lines are not rows
        if (job.Format == "csv" && csv is null)
        {
            // The header: a bad one stops the import before anything is applied.
            if (CsvRecord.TryParse(row, fields) is { } headerProblem)
                throw EngineException.BadRequest(ErrorCode.Malformed, "the CSV header: " + headerProblem, "header");
            csv = CsvMapping.Create(fields, csvMapping, engine.IdentifierTypes, engine.DeclaredTraits);
            foreach (var w in workers)
                w.Csv = csv;
            return;
        }
        // Parsing happens on the workers, in parallel; here only a cheap look at the row decides
        // which worker gets it, so that rows of one person keep their file order.
        var key = csv is not null ? csv.PartitionKey(row) : RowPartition.JsonKey(row);
        int worker = (int)((uint)RowPartition.Hash(key) % (uint)workers.Length);
        var batch = filling[worker] ??= free.Reader.TryRead(out var reused) ? reused : new RowBatch();
        batch.Add(row, rowStartLine);
        if (batch.IsFull)
        {
            filling[worker] = null;
            await workers[worker].EnqueueAsync(batch, cancellationToken);
        }
    }

    void Reject(string code, string message, string? field) => job.Reject(new RejectedRow(rowStartLine, code, message, field));
}
