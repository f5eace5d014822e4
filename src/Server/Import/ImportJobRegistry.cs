using System.Collections.Concurrent;

namespace Cdp.Server.Import;

/// <summary>
/// The import jobs of this process: running ones and the most recent finished ones
/// (<see cref="MaxFinished"/>), looked up by id. Jobs are not kept across restarts; what an import
/// applied is, like every write, in the journal.
/// </summary>
public sealed class ImportJobRegistry
{
    /// <summary>Finished jobs kept for <c>GET /v1/jobs/{id}</c>.</summary>
    public const int MaxFinished = 100;

    readonly ConcurrentDictionary<string, ImportJob> jobs = new(StringComparer.Ordinal);
    readonly ConcurrentQueue<string> finished = new();
    readonly TimeProvider time;

    /// <summary>Creates the registry.</summary>
    public ImportJobRegistry(TimeProvider time) => this.time = time;

    /// <summary>
    /// Registers a new running job under <paramref name="id"/> (chosen by the client so it can watch
    /// the job while its upload runs) or a new random id. Null when that id is taken.
    /// </summary>
    public ImportJob? Start(string format, string? id = null)
    {
        var job = new ImportJob(id ?? Guid.NewGuid().ToString("N")[..16], format, time.GetUtcNow());
        return jobs.TryAdd(job.Id, job) ? job : null;
    }

    int running;

    /// <summary>
    /// Claims the import slot: one import runs at a time, because each takes an engine session per
    /// core for its whole run and several would leave none for ordinary requests.
    /// </summary>
    public bool TryClaimSlot() => Interlocked.CompareExchange(ref running, 1, 0) == 0;

    /// <summary>Releases the slot of <see cref="TryClaimSlot"/>.</summary>
    public void ReleaseSlot() => Volatile.Write(ref running, 0);

    /// <summary>Whether <paramref name="id"/> may name a job: 1-64 letters, digits, '-' and '_'.</summary>
    public static bool IsValidId(string id) => id.Length is >= 1 and <= 64 && id.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_');

    /// <summary>Marks a job finished and forgets the oldest finished ones beyond <see cref="MaxFinished"/>.</summary>
    public void Finish(ImportJob job, string? error)
    {
        job.Finish(time.GetUtcNow(), error);
        finished.Enqueue(job.Id);
        while (finished.Count > MaxFinished && finished.TryDequeue(out var old))
            jobs.TryRemove(old, out _);
    }

    /// <summary>Finds a job.</summary>
    public ImportJob? Get(string id) => jobs.TryGetValue(id, out var job) ? job : null;
}
