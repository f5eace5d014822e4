using System.Diagnostics;
using Cdp.Client;
using HdrHistogram;

namespace Cdp.LoadTests.Client;

/// <summary>What one request did: its latency is recorded only for <see cref="Ok"/> and <see cref="NotFound"/>.</summary>
internal enum Outcome
{
    Ok,
    NotFound,
    Error,
}

/// <summary>
/// Runs a closed loop through <see cref="CdpClient"/>: every connection keeps <c>pipeline</c> requests in flight, each worker sending its next
/// request as soon as the previous one answered. Measures per-request latency (microseconds) into HdrHistograms.
/// </summary>
/// <remarks>
/// Closed loops under-report latency when the server stalls (coordinated omission: a stalled worker sends nothing,
/// so the stall is one slow sample, not many). Read p99.9/max with that in mind, or compare with a lower pipeline.
/// </remarks>
internal sealed class ClientClosedLoopRunner
{
    private const long HighestTrackableMicros = 60_000_000;

    private readonly IReadOnlyList<CdpClient> clients;
    private readonly int pipeline;
    private readonly Func<CdpClient, Task<Outcome>> operation;
    private readonly ErrorLog errors = new();

    public ClientClosedLoopRunner(IReadOnlyList<CdpClient> clients, int pipeline, Func<CdpClient, Task<Outcome>> operation)
    {
        this.clients = clients;
        this.pipeline = pipeline;
        this.operation = operation;
    }

    public ErrorLog Errors => errors;

    /// <summary>Runs until <paramref name="duration"/> has passed or <paramref name="maxRequests"/> were sent.</summary>
    public async Task<ClientRunResult> RunAsync(TimeSpan duration, long? maxRequests, bool reportProgress)
    {
        var histograms = new LongHistogram[clients.Count];
        for (int i = 0; i < histograms.Length; i++)
            histograms[i] = new LongHistogram(HighestTrackableMicros, 3);

        long budget = maxRequests ?? long.MaxValue;
        long issued = 0, completed = 0;
        var counts = new long[3];
        long start = Stopwatch.GetTimestamp();
        long deadline = start + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        using var stopProgress = new CancellationTokenSource();
        Task progress = reportProgress ? ReportProgressAsync(() => Volatile.Read(ref completed), stopProgress.Token) : Task.CompletedTask;

        async Task WorkerAsync(CdpClient client, LongHistogram histogram)
        {
            long ok = 0, notFound = 0, failed = 0;
            while (Stopwatch.GetTimestamp() < deadline && Interlocked.Increment(ref issued) <= budget)
            {
                long sent = Stopwatch.GetTimestamp();
                Outcome outcome;
                try
                {
                    outcome = await operation(client).ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    errors.Add(ex);
                    outcome = Outcome.Error;
                }
                long micros = Math.Max(1, (Stopwatch.GetTimestamp() - sent) * 1_000_000 / Stopwatch.Frequency);
                Interlocked.Increment(ref completed);
                switch (outcome)
                {
                    case Outcome.Ok: ok++; break;
                    case Outcome.NotFound: notFound++; break;
                    default: failed++; continue;
                }
                // One histogram per connection; its workers rarely collide on the lock, since each mostly awaits.
                lock (histogram)
                    histogram.RecordValue(Math.Min(micros, HighestTrackableMicros));
            }
            Interlocked.Add(ref counts[(int)Outcome.Ok], ok);
            Interlocked.Add(ref counts[(int)Outcome.NotFound], notFound);
            Interlocked.Add(ref counts[(int)Outcome.Error], failed);
        }

        var workers = new List<Task>(clients.Count * pipeline);
        for (int c = 0; c < clients.Count; c++)
        {
            CdpClient client = clients[c];
            LongHistogram histogram = histograms[c];
            for (int p = 0; p < pipeline; p++)
                workers.Add(Task.Run(() => WorkerAsync(client, histogram)));
        }
        await Task.WhenAll(workers).ConfigureAwait(false);
        TimeSpan elapsed = Stopwatch.GetElapsedTime(start);
        stopProgress.Cancel();
        await progress.ConfigureAwait(false);

        var merged = new LongHistogram(HighestTrackableMicros, 3);
        foreach (LongHistogram histogram in histograms)
            merged.Add(histogram);
        return new ClientRunResult(elapsed, counts[(int)Outcome.Ok], counts[(int)Outcome.NotFound], counts[(int)Outcome.Error], merged);
    }

    private static async Task ReportProgressAsync(Func<long> completed, CancellationToken stop)
    {
        long previous = 0;
        int second = 0;
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        try
        {
            while (await timer.WaitForNextTickAsync(stop).ConfigureAwait(false))
            {
                long now = completed();
                Console.WriteLine($"  {++second,4} s  {now - previous,12:N0} req/s");
                previous = now;
            }
        }
        catch (OperationCanceledException)
        {
            // End of the run.
        }
    }
}
