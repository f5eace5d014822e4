using System.Threading.Channels;
using Cdp.Protocol;
using Cdp.Server.Engine;

namespace Cdp.Server.Import;

/// <summary>A batch of parsed rows on its way to an <see cref="ImportWorker"/>; reused.</summary>
sealed class RowBatch
{
    public const int Size = 256;
    public readonly WriteCommand[] Commands = Enumerable.Range(0, Size).Select(_ => new WriteCommand()).ToArray();
    public readonly long[] Lines = new long[Size];
    public int Count;
}

/// <summary>
/// Applies parsed rows with its own engine session, on its own task. An import runs one per core:
/// parsing stays on the reading task, the writes run beside it. Rows of one identifier go to one
/// worker (see <see cref="ImportRunner"/>), so a person's rows are applied in file order.
/// </summary>
sealed class ImportWorker
{
    readonly ProfileEngine engine;
    readonly ImportJob job;
    readonly Channel<RowBatch> queue = Channel.CreateBounded<RowBatch>(new BoundedChannelOptions(4) { SingleReader = true, SingleWriter = true });
    readonly Channel<RowBatch> free;

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
                        var result = session.Write(batch.Commands[i]);
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
                batch.Count = 0;
                free.Writer.TryWrite(batch);
            }
        }
        finally
        {
            engine.Return(session);
        }
    }
}
