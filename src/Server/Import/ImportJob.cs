using System.Text.Json.Serialization;

namespace Cdp.Server.Import;

/// <summary>Where an import job is.</summary>
public enum ImportJobState
{
    /// <summary>Reading and applying rows.</summary>
    Running,
    /// <summary>Every row was read; the applied ones are durable.</summary>
    Completed,
    /// <summary>Stopped early (the upload broke off, the journal failed, the server is stopping); rows applied before stay applied.</summary>
    Failed,
}

/// <summary>One rejected row: where it is in the file and why.</summary>
/// <param name="Line">1-based line number where the row starts.</param>
/// <param name="Code">Machine-readable reason (the same codes as write errors).</param>
/// <param name="Message">Human-readable reason.</param>
/// <param name="Field">The field at fault, when there is one.</param>
public sealed record RejectedRow(long Line, string Code, string Message, string? Field);

/// <summary>
/// The progress and outcome of one import, readable while it runs (<c>GET /v1/jobs/{id}</c>). Counters
/// are updated by the one thread that runs the import and read by anyone.
/// </summary>
public sealed class ImportJob
{
    /// <summary>Rejected rows kept with their reasons; beyond this only <see cref="Rejected"/> counts them (memory stays constant).</summary>
    public const int MaxReportedRows = 1000;

    readonly List<RejectedRow> rejectedRows = [];
    readonly Lock gate = new();
    long rows, applied, duplicates, rejected, bytes;

    internal ImportJob(string id, string format, DateTimeOffset startedAt)
    {
        Id = id;
        Format = format;
        StartedAt = startedAt;
    }

    /// <summary>Job id.</summary>
    public string Id { get; }
    /// <summary><c>ndjson</c> or <c>csv</c>.</summary>
    public string Format { get; }
    /// <summary>State.</summary>
    [JsonConverter(typeof(JsonStringEnumConverter<ImportJobState>))]
    public ImportJobState State { get; private set; }
    /// <summary>When it started.</summary>
    public DateTimeOffset StartedAt { get; }
    /// <summary>When it ended; null while running.</summary>
    public DateTimeOffset? FinishedAt { get; private set; }
    /// <summary>Why it failed; null otherwise.</summary>
    public string? Error { get; private set; }
    /// <summary>Rows read so far (blank lines and the CSV header excluded).</summary>
    public long Rows => Interlocked.Read(ref rows);
    /// <summary>Rows applied.</summary>
    public long Applied => Interlocked.Read(ref applied);
    /// <summary>Rows whose messageId had been applied before (not applied again).</summary>
    public long Duplicates => Interlocked.Read(ref duplicates);
    /// <summary>Rows rejected.</summary>
    public long Rejected => Interlocked.Read(ref rejected);
    /// <summary>Bytes of input read.</summary>
    public long BytesRead => Interlocked.Read(ref bytes);

    /// <summary>The first <see cref="MaxReportedRows"/> rejected rows, in file order.</summary>
    public IReadOnlyList<RejectedRow> RejectedRows
    {
        get
        {
            lock (gate)
                return rejectedRows.OrderBy(r => r.Line).ToArray();
        }
    }

    internal void CountBytes(long n) => Interlocked.Add(ref bytes, n);
    internal void CountApplied(bool duplicate)
    {
        Interlocked.Increment(ref rows);
        Interlocked.Increment(ref duplicate ? ref duplicates : ref applied);
    }

    internal void Reject(RejectedRow row)
    {
        Interlocked.Increment(ref rows);
        Interlocked.Increment(ref rejected);
        lock (gate)
            if (rejectedRows.Count < MaxReportedRows)
                rejectedRows.Add(row);
    }

    internal void Finish(DateTimeOffset at, string? error)
    {
        Error = error;
        FinishedAt = at;
        State = error is null ? ImportJobState.Completed : ImportJobState.Failed;
    }
}
