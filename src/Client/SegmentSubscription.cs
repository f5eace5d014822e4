using System.Threading.Channels;
using Cdp.Protocol;
using MessagePack;

namespace Cdp.Client;

/// <summary>A profile entered or left a segment (a SegmentChange push).</summary>
/// <param name="ProfileId">The profile's master id.</param>
/// <param name="Segment">The segment.</param>
/// <param name="Entered">True for an entry, false for an exit.</param>
/// <param name="Reason"><c>write</c>, <c>time</c>, <c>backfill</c>, <c>merge</c>, <c>unmerge</c>, <c>segment_deleted</c> or <c>erased</c>.</param>
/// <param name="At">When the change happened (server clock).</param>
public sealed record SegmentChange(string ProfileId, string Segment, bool Entered, string Reason, DateTimeOffset At);

/// <summary>
/// The server cut the subscription off because the client fell more than its queue behind. Changes
/// were lost: re-read the members (HTTP <c>/v1/segments/{name}/members</c>) and subscribe again.
/// </summary>
public sealed class SubscriptionOverflowException(string message) : Exception(message)
{
    /// <summary>The server cut the subscription off.</summary>
    public SubscriptionOverflowException()
        : this("The server ended the segment subscription: this client fell too far behind and changes were dropped. Re-read the members and subscribe again.")
    {
    }
}

/// <summary>
/// A subscription to segment membership changes on its own connection. Read the changes with
/// <see cref="ReadAllAsync"/>; the stream ends with <see cref="SubscriptionOverflowException"/> when the
/// server cut the subscription off, and with <see cref="CdpConnectionException"/> when the connection closed.
/// </summary>
public sealed class SegmentSubscription : IAsyncDisposable
{
    readonly MultiplexedConnection connection;
    readonly Channel<SegmentChange> changes;
    readonly int maxBuffered;

    SegmentSubscription(MultiplexedConnection connection, int maxBuffered)
    {
        this.connection = connection;
        this.maxBuffered = maxBuffered;
        // Bounded (CdpClientOptions.MaxBufferedChanges): TryWrite fails when full instead of growing.
        changes = Channel.CreateBounded<SegmentChange>(new BoundedChannelOptions(maxBuffered) { SingleReader = true, SingleWriter = true, FullMode = BoundedChannelFullMode.Wait });
        connection.PushReceived = OnPush;
        connection.Closed = e => changes.Writer.TryComplete(e);
    }

    internal static async Task<SegmentSubscription> OpenAsync(CdpClientOptions options, IEnumerable<string> segments, CancellationToken cancellationToken)
    {
        var connection = await MultiplexedConnection.OpenAsync(options, cancellationToken).ConfigureAwait(false);
        var subscription = new SegmentSubscription(connection, options.MaxBufferedChanges);
        try
        {
            await subscription.AddAsync(segments, cancellationToken).ConfigureAwait(false);
            return subscription;
        }
        catch
        {
            await subscription.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>The segments subscribed, as the server last confirmed them.</summary>
    public IReadOnlyList<string> Segments { get; private set; } = [];

    /// <summary>Adds segments (names need not exist yet).</summary>
    public Task AddAsync(IEnumerable<string> segments, CancellationToken cancellationToken = default) => SendAsync(Opcode.Subscribe, segments, cancellationToken);

    /// <summary>Stops changes of these segments.</summary>
    public Task RemoveAsync(IEnumerable<string> segments, CancellationToken cancellationToken = default) => SendAsync(Opcode.Unsubscribe, segments, cancellationToken);

    async Task SendAsync(Opcode opcode, IEnumerable<string> segments, CancellationToken cancellationToken)
    {
        var names = segments.ToArray();
        var frame = new PooledBufferWriter(256);
        FrameEncoder.WriteFrame<IReadOnlyList<string>>(frame, opcode, 0, names, FrameEncoder.WriteSegments);
        var sent = connection.TrySend(frame, opcode, cancellationToken) ?? throw new CdpConnectionException("The subscription's connection is closed.", null);
        var reply = await sent.ConfigureAwait(false);
        if (reply.Status != Status.Ok)
            throw ResponseDecoder.CreateException(reply.Status, reply.Body);
        var reader = new MessagePackReader(reply.Body);
        int count = reader.ReadMapHeader();
        var confirmed = new List<string>();
        for (int i = 0; i < count; i++)
        {
            if (reader.ReadString() == "segments")
            {
                int n = reader.ReadArrayHeader();
                for (int j = 0; j < n; j++)
                    confirmed.Add(reader.ReadString()!);
            }
            else
                reader.Skip();
        }
        Segments = confirmed;
    }

    void OnPush(ReadOnlyMemory<byte> body)
    {
        var reader = new MessagePackReader(body);
        int count = reader.ReadMapHeader();
        string profile = "", segment = "", reason = "";
        bool entered = false, overflow = false;
        DateTimeOffset at = default;
        for (int i = 0; i < count; i++)
        {
            switch (reader.ReadString())
            {
                case "profile": profile = reader.ReadString()!; break;
                case "segment": segment = reader.ReadString()!; break;
                case "entered": entered = reader.ReadBoolean(); break;
                case "reason": reason = reader.ReadString()!; break;
                case "at": at = ValueDecoder.ReadTimestamp(ref reader); break;
                case "overflow": overflow = reader.ReadBoolean(); break;
                default: reader.Skip(); break;
            }
        }
        if (overflow)
            changes.Writer.TryComplete(new SubscriptionOverflowException());
        else if (!changes.Writer.TryWrite(new SegmentChange(profile, segment, entered, reason, at)))
        {
            // Full (or already ended): end it here and close the connection, so the server stops sending.
            if (changes.Writer.TryComplete(new SubscriptionOverflowException(
                    $"The segment subscription ended: {maxBuffered} changes were received and not read (CdpClientOptions.MaxBufferedChanges). Re-read the members and subscribe again.")))
                _ = connection.DisposeAsync().AsTask();
        }
    }

    /// <summary>The changes, in the order the server made them, until the subscription ends.</summary>
    public IAsyncEnumerable<SegmentChange> ReadAllAsync(CancellationToken cancellationToken = default) => changes.Reader.ReadAllAsync(cancellationToken);

    /// <summary>Waits for the next change.</summary>
    public ValueTask<SegmentChange> ReadAsync(CancellationToken cancellationToken = default) => changes.Reader.ReadAsync(cancellationToken);

    /// <summary>Ends the subscription and closes its connection.</summary>
    public async ValueTask DisposeAsync()
    {
        changes.Writer.TryComplete();
        await connection.DisposeAsync().ConfigureAwait(false);
    }
}
