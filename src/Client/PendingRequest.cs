using Cdp.Protocol;

namespace Cdp.Client;

/// <summary>
/// One request waiting for its response. Continuations run asynchronously so a caller's code never runs on
/// (and stalls) the connection's reader loop or timeout sweep.
/// </summary>
internal sealed class PendingRequest : TaskCompletionSource<RawResponse>
{
    private CancellationTokenRegistration cancellation;

    public PendingRequest(MultiplexedConnection owner, uint requestId, Opcode opcode, long deadline)
        : base(TaskCreationOptions.RunContinuationsAsynchronously)
    {
        Owner = owner;
        RequestId = requestId;
        Opcode = opcode;
        Deadline = deadline;
    }

    /// <summary>The connection whose in-flight table holds this request.</summary>
    public MultiplexedConnection Owner { get; }

    public uint RequestId { get; set; }

    public Opcode Opcode { get; }

    /// <summary><see cref="System.Diagnostics.Stopwatch"/> timestamp after which the request times out; <see cref="long.MaxValue"/> for never.</summary>
    public long Deadline { get; }

    public void RegisterCancellation(CancellationToken token, Action<object?, CancellationToken> onCanceled)
        => cancellation = token.UnsafeRegister(onCanceled, this);

    public void Complete(RawResponse response)
    {
        // Unregister, not Dispose: Dispose would wait for a running callback, and this runs on the reader loop.
        cancellation.Unregister();
        TrySetResult(response);
    }

    public void Fail(Exception exception)
    {
        cancellation.Unregister();
        TrySetException(exception);
    }

    public void Cancel(CancellationToken token)
    {
        cancellation.Unregister();
        TrySetCanceled(token);
    }
}
