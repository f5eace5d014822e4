using System.Text.Json;
using System.Threading.Channels;
using Cdp.Protocol;
using Cdp.Server.Engine;
using Cdp.Server.Http;

namespace Cdp.Server.Import;

/// <summary>A batch of raw rows (bytes and start line) on its way to an <see cref="ImportWorker"/>; reused.</summary>
sealed class RowBatch
{
    public const int MaxRows = 256;
    public const int MaxBytes = 256 * 1024;
    public byte[] Data = new byte[MaxBytes];
    public readonly int[] Ends = new int[MaxRows];
    public readonly long[] Lines = new long[MaxRows];
    public int Count;
    int used;

    /// <summary>Whether the next row should go to a new batch.</summary>
    public bool IsFull => Count == MaxRows || used >= MaxBytes;

    public void Add(ReadOnlySpan<byte> row, long line)
    {
        if (used + row.Length > Data.Length)
            Array.Resize(ref Data, Math.Max(Data.Length * 2, used + row.Length));
        row.CopyTo(Data.AsSpan(used));
        used += row.Length;
        Ends[Count] = used;
        Lines[Count++] = line;
    }

    public ReadOnlySpan<byte> Row(int i) => Data.AsSpan(i == 0 ? 0 : Ends[i - 1], Ends[i] - (i == 0 ? 0 : Ends[i - 1]));

    public ReadOnlyMemory<byte> RowMemory(int i) => Data.AsMemory(i == 0 ? 0 : Ends[i - 1], Ends[i] - (i == 0 ? 0 : Ends[i - 1]));

    public void Clear()
    {
        Count = 0;
        used = 0;
        // A batch grown by one huge row goes back to its normal size.
        if (Data.Length > MaxBytes * 4)
            Data = new byte[MaxBytes];
    }
}

/// <summary>
/// Parses and applies rows with its own engine session, on its own task; an import runs one per
/// core. Rows of one person go to one worker (<see cref="RowPartition"/>), so they are applied in
/// file order.
/// </summary>
sealed class ImportWorker
{
    readonly ProfileEngine engine;
    readonly ImportJob job;
    readonly Channel<RowBatch> queue = Channel.CreateBounded<RowBatch>(new BoundedChannelOptions(4) { SingleReader = true, SingleWriter = true });
    readonly Channel<RowBatch> free;

    readonly WriteCommand command = new();
    readonly List<string> fields = [];

    /// <summary>The CSV header's mapping, once read (null for NDJSON).</summary>
    public CsvMapping? Csv { get; set; }

    public ImportWorker(ProfileEngine engine, ImportJob job, Channel<RowBatch> free)
    {
        this.engine = engine;
        this.job = job;
        this.free = free;
    }

    /// <summary>Highest journal address written; the import waits for it before it completes.</summary>
    public long LastAddress { get; private set; } = -1;

    /// <summary>The worker's loop; ends when <see cref="Complete"/> was called and the queue is empty.</summary>
    public Task Running { get; private set; } = Task.CompletedTask;

    public void Start(CancellationToken cancellationToken) => Running = Task.Run(() => RunAsync(cancellationToken), cancellationToken);

    public ValueTask EnqueueAsync(RowBatch batch, CancellationToken cancellationToken) => queue.Writer.WriteAsync(batch, cancellationToken);

    public void Complete() => queue.Writer.TryComplete();

    async Task RunAsync(CancellationToken cancellationToken)
    {
        var session = await engine.RentAsync(cancellationToken);
        try
        {
            await foreach (var batch in queue.Reader.ReadAllAsync(cancellationToken))
            {
                for (int i = 0; i < batch.Count; i++)
                {
                    try
                    {
                        try
                        {
                            Parse(batch, i);
                        }
                        catch (Exception e) when (e is InvalidOperationException or FormatException or JsonException or ArgumentException)
                        {
                            // Whatever the parsers throw on a row they cannot read is that row's fault.
                            throw EngineException.BadRequest(ErrorCode.Malformed, "the row cannot be read: " + e.Message, "row");
                        }
                        var result = session.Write(command);
                        LastAddress = Math.Max(LastAddress, result.JournalAddress);
                        job.CountApplied(result.Duplicate);
                    }
                    catch (EngineException e) when (e.Status is Status.BadRequest or Status.Conflict or Status.ProfileTooLarge)
                    {
                        // The row's own fault: reported, nothing of it applied. Anything else (the
                        // journal failing) ends the worker and with it the job.
                        job.Reject(new RejectedRow(batch.Lines[i], e.Code, e.Message, e.Field));
                    }
                }
                batch.Clear();
                free.Writer.TryWrite(batch);
            }
        }
        finally
        {
            engine.Return(session);
        }
    }

    void Parse(RowBatch batch, int i)
    {
        if (Csv is { } csv)
        {
            if (CsvRecord.TryParse(batch.Row(i), fields) is { } problem)
                throw EngineException.BadRequest(ErrorCode.Malformed, problem, "row");
            csv.Fill(fields, command);
            return;
        }
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(batch.RowMemory(i), SegmentSpecReader.DocumentOptions);
        }
        catch (JsonException e)
        {
            throw EngineException.BadRequest(ErrorCode.Malformed, $"not a JSON object: {e.Message}", "row");
        }
        using (document)
        {
            var message = document.RootElement;
            string type = message.ValueKind == JsonValueKind.Object && message.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String
                ? t.GetString()!
                : throw EngineException.BadRequest(ErrorCode.Missing, "type is required (identify, track, page, screen).", "type");
            SegmentSpecReader.Read(message, type, command);
        }
    }
}
