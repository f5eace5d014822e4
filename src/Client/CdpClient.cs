using Cdp.Protocol;

namespace Cdp.Client;

/// <summary>
/// Client for the Cdp binary protocol v1 (docs/protocol.md). Thread-safe: any number of callers may issue requests
/// at once; they are pipelined over <see cref="CdpClientOptions.PoolSize"/> connections and matched to responses by
/// request id.
/// </summary>
/// <remarks>
/// When a connection drops (for example the server restarts), the requests in flight on it fail with
/// <see cref="CdpConnectionException"/> and the next call reconnects transparently, including the Hello handshake.
/// A request that never reached the wire because its connection had just closed is sent on the new connection.
/// </remarks>
public sealed class CdpClient : IAsyncDisposable
{
    private readonly ConnectionSlot[] slots;
    private int nextSlot = -1;
    private int disposed;

    private CdpClient(CdpClientOptions options)
    {
        Options = options;
        slots = new ConnectionSlot[options.PoolSize];
        for (int i = 0; i < slots.Length; i++)
            slots[i] = new ConnectionSlot(options);
    }

    /// <summary>The options this client was created with (a copy; changing the original has no effect).</summary>
    public CdpClientOptions Options { get; }

    /// <summary>
    /// The Hello reply of the server on the pool's first open connection, or the protocol defaults when none is open.
    /// Its <see cref="HelloReply.MaxBodyLength"/> is the largest request body the client will send.
    /// </summary>
    public HelloReply ServerHello
    {
        get
        {
            foreach (ConnectionSlot slot in slots)
            {
                if (slot.Current is { IsOpen: true } connection)
                    return connection.Hello;
            }
            return new HelloReply(FrameHeader.ProtocolVersion, "", ProtocolLimits.DefaultMaxBodyLength);
        }
    }

    /// <summary>Opens <see cref="CdpClientOptions.PoolSize"/> connections and performs the Hello handshake on each.</summary>
    /// <exception cref="CdpConnectionException">A connection could not be established within <see cref="CdpClientOptions.ConnectTimeout"/>.</exception>
    /// <exception cref="CdpException">The server refused the Hello handshake.</exception>
    public static async Task<CdpClient> ConnectAsync(CdpClientOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var client = new CdpClient(options with { });
        try
        {
            var connects = new Task[client.slots.Length];
            for (int i = 0; i < connects.Length; i++)
                connects[i] = client.slots[i].GetAsync(cancellationToken).AsTask();
            await Task.WhenAll(connects).ConfigureAwait(false);
        }
        catch
        {
            await client.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return client;
    }

    /// <summary>Round-trips an empty Ping frame; measures the transport alone.</summary>
    /// <exception cref="CdpConnectionException">The connection failed.</exception>
    /// <exception cref="TimeoutException">No response within <see cref="CdpClientOptions.RequestTimeout"/>.</exception>
    public async Task PingAsync(CancellationToken cancellationToken = default)
    {
        RawResponse response = await SendAsync(Opcode.Ping, ReadOnlyMemory<byte>.Empty, cancellationToken).ConfigureAwait(false);
        if (response.Status != Status.Ok)
            throw ResponseDecoder.CreateException(response.Status, response.Body);
    }

    /// <summary>Links identifiers to one profile and upserts traits. Acknowledged once the server journaled it.</summary>
    /// <exception cref="ArgumentException">A value cannot be encoded, or the body exceeds the server's maxBodyLength.</exception>
    /// <exception cref="CdpException">The server rejected the write (for example <see cref="Status.Conflict"/>).</exception>
    /// <exception cref="CdpConnectionException">The connection failed; the write may or may not have been applied.</exception>
    /// <exception cref="TimeoutException">No response within <see cref="CdpClientOptions.RequestTimeout"/>.</exception>
    public async Task<WriteResult> IdentifyAsync(IdentifyRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        PooledBufferWriter frame = EncodeFrame(Opcode.Identify, request, RequestEncoder.WriteIdentify);
        RawResponse response = await SendFrameAsync(frame, Opcode.Identify, cancellationToken).ConfigureAwait(false);
        if (response.Status != Status.Ok)
            throw ResponseDecoder.CreateException(response.Status, response.Body);
        return ResponseDecoder.DecodeWriteResult(response.Body);
    }

    /// <summary>Records an event on the profile the identifiers resolve to, creating the profile if none matches.</summary>
    /// <exception cref="ArgumentException">A value cannot be encoded, or the body exceeds the server's maxBodyLength.</exception>
    /// <exception cref="CdpException">The server rejected the write.</exception>
    /// <exception cref="CdpConnectionException">The connection failed; the write may or may not have been applied.</exception>
    /// <exception cref="TimeoutException">No response within <see cref="CdpClientOptions.RequestTimeout"/>.</exception>
    public async Task<WriteResult> TrackAsync(TrackRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        PooledBufferWriter frame = EncodeFrame(Opcode.Track, request, RequestEncoder.WriteTrack);
        RawResponse response = await SendFrameAsync(frame, Opcode.Track, cancellationToken).ConfigureAwait(false);
        if (response.Status != Status.Ok)
            throw ResponseDecoder.CreateException(response.Status, response.Body);
        return ResponseDecoder.DecodeWriteResult(response.Body);
    }

    /// <summary>
    /// Erases the person one identifier leads to (needs a key with the admin scope): the profile, every
    /// profile merged into it, their identifiers, memberships and journalled writes. Acknowledged once durable.
    /// </summary>
    /// <returns>What was erased, or null when no profile was reachable (erasing twice is harmless).</returns>
    /// <exception cref="CdpException">The server refused (for example <see cref="Status.Forbidden"/> for a key without the admin scope).</exception>
    public async Task<EraseResult?> EraseAsync(string type, string value, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(type);
        ArgumentNullException.ThrowIfNull(value);
        PooledBufferWriter frame = EncodeFrame(Opcode.Erase, (type, value), RequestEncoder.WriteErase);
        RawResponse response = await SendFrameAsync(frame, Opcode.Erase, cancellationToken).ConfigureAwait(false);
        return response.Status switch
        {
            Status.Ok => ResponseDecoder.DecodeEraseResult(response.Body),
            Status.NotFound => null,
            _ => throw ResponseDecoder.CreateException(response.Status, response.Body),
        };
    }

    /// <summary>Reads the profile reachable from one identifier.</summary>
    /// <param name="type">Identifier type (<c>email</c>, <c>user_id</c>, ...) or <c>id</c> for the master profile id.</param>
    /// <param name="value">Identifier value; the server normalises it.</param>
    /// <param name="fields">Only these traits are returned; null returns all.</param>
    /// <param name="cancellationToken">Cancels the wait (the request may still reach the server).</param>
    /// <returns>The profile, or null when the server answered NotFound.</returns>
    /// <exception cref="CdpException">The server rejected the request (for example an unknown identifier type).</exception>
    /// <exception cref="CdpConnectionException">The connection failed.</exception>
    /// <exception cref="TimeoutException">No response within <see cref="CdpClientOptions.RequestTimeout"/>.</exception>
    public Task<Profile?> GetProfileAsync(string type, string value, IReadOnlyList<string>? fields = null, CancellationToken cancellationToken = default)
        => GetProfileCoreAsync(type, value, fields, null, cancellationToken);

    /// <summary>
    /// Reads a profile for a processing purpose: the server answers only what the purpose may see, and
    /// refuses with <see cref="Status.Forbidden"/> (<c>no_consent</c>) when the purpose needs consent the person has not given.
    /// </summary>
    /// <param name="type">Identifier type.</param>
    /// <param name="value">Identifier value.</param>
    /// <param name="purpose">The purpose of the read (configured on the server).</param>
    /// <param name="fields">Only these traits are returned (within the purpose's); null returns all the purpose may see.</param>
    /// <param name="cancellationToken">Cancels the wait (the request may still reach the server).</param>
    public Task<Profile?> GetProfileAsync(string type, string value, string purpose, IReadOnlyList<string>? fields = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(purpose);
        return GetProfileCoreAsync(type, value, fields, purpose, cancellationToken);
    }

    async Task<Profile?> GetProfileCoreAsync(string type, string value, IReadOnlyList<string>? fields, string? purpose, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(type);
        ArgumentNullException.ThrowIfNull(value);
        PooledBufferWriter frame = EncodeFrame(Opcode.GetProfile, new GetProfileQuery(type, value, fields, purpose), RequestEncoder.WriteGetProfile);
        RawResponse response = await SendFrameAsync(frame, Opcode.GetProfile, cancellationToken).ConfigureAwait(false);
        return response.Status switch
        {
            Status.Ok => ResponseDecoder.DecodeProfile(response.Body),
            Status.NotFound => null,
            _ => throw ResponseDecoder.CreateException(response.Status, response.Body),
        };
    }

    /// <summary>
    /// Sends a request with an already encoded body and returns the response as received, whatever its status.
    /// Meant for load harnesses that encode bodies once (<see cref="RequestEncoder"/>) and for protocol tests.
    /// </summary>
    /// <param name="opcode">The operation.</param>
    /// <param name="body">The MessagePack body (empty for Ping); copied before this method returns, so the caller may reuse it.</param>
    /// <param name="cancellationToken">Cancels the wait (the request may still reach the server).</param>
    /// <exception cref="ArgumentException">The body exceeds the server's maxBodyLength (the frame is not sent, since the server would close the connection).</exception>
    /// <exception cref="CdpConnectionException">The connection failed.</exception>
    /// <exception cref="TimeoutException">No response within <see cref="CdpClientOptions.RequestTimeout"/>.</exception>
    public Task<RawResponse> SendAsync(Opcode opcode, ReadOnlyMemory<byte> body, CancellationToken cancellationToken = default)
    {
        var frame = new PooledBufferWriter(FrameHeader.Size + body.Length);
        FrameEncoder.WriteFrame(frame, opcode, 0, body.Span);
        return SendFrameAsync(frame, opcode, cancellationToken);
    }

    /// <summary>Closes every connection; requests still in flight fail with <see cref="CdpConnectionException"/>.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) != 0)
            return;
        foreach (ConnectionSlot slot in slots)
            await slot.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// Subscribes to membership changes of <paramref name="segments"/> on a connection of its own (so
    /// pushes never share a connection with request traffic): enter and exit changes arrive through
    /// <see cref="SegmentSubscription.ReadAllAsync"/> as they happen. Dispose the subscription to end it.
    /// </summary>
    /// <exception cref="CdpException">The server refused the subscription (for example a key without the read scope).</exception>
    /// <exception cref="CdpConnectionException">The connection could not be opened.</exception>
    public Task<SegmentSubscription> SubscribeAsync(IEnumerable<string> segments, CancellationToken cancellationToken = default)
        => SegmentSubscription.OpenAsync(Options, segments, cancellationToken);

    private static PooledBufferWriter EncodeFrame<TState>(Opcode opcode, TState state, BodyWriter<TState> writeBody)
    {
        var frame = new PooledBufferWriter();
        try
        {
            FrameEncoder.WriteFrame(frame, opcode, 0, state, writeBody);
            return frame;
        }
        catch
        {
            frame.Dispose();
            throw;
        }
    }

    /// <summary>Sends a complete frame (request id still 0) and takes ownership of it, whatever happens.</summary>
    private Task<RawResponse> SendFrameAsync(PooledBufferWriter frame, Opcode opcode, CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref disposed) != 0)
        {
            frame.Dispose();
            return Task.FromException<RawResponse>(new ObjectDisposedException(nameof(CdpClient)));
        }
        if (cancellationToken.IsCancellationRequested)
        {
            frame.Dispose();
            return Task.FromCanceled<RawResponse>(cancellationToken);
        }

        ConnectionSlot slot = slots.Length == 1 ? slots[0] : slots[(uint)Interlocked.Increment(ref nextSlot) % (uint)slots.Length];
        try
        {
            ValueTask<MultiplexedConnection> connection = slot.GetAsync(cancellationToken);
            if (connection.IsCompletedSuccessfully)
            {
                Task<RawResponse>? sent = TrySend(connection.Result, frame, opcode, cancellationToken);
                if (sent is not null)
                    return sent;
                // The connection closed before the frame was queued; asking again reconnects.
                connection = slot.GetAsync(cancellationToken);
            }
            return SendAfterConnectAsync(connection, frame, opcode, cancellationToken);
        }
        catch (Exception ex)
        {
            frame.Dispose();
            return Task.FromException<RawResponse>(ex);
        }
    }

    private static async Task<RawResponse> SendAfterConnectAsync(ValueTask<MultiplexedConnection> connecting, PooledBufferWriter frame, Opcode opcode, CancellationToken cancellationToken)
    {
        Task<RawResponse>? sent;
        MultiplexedConnection connection;
        try
        {
            connection = await connecting.ConfigureAwait(false);
            sent = TrySend(connection, frame, opcode, cancellationToken);
        }
        catch
        {
            frame.Dispose();
            throw;
        }
        if (sent is null)
        {
            frame.Dispose();
            throw new CdpConnectionException($"The connection to {connection.Endpoint} closed again before the request could be sent.");
        }
        return await sent.ConfigureAwait(false);
    }

    /// <summary>Checks the body against the server's announced limit, then hands the frame to the connection.</summary>
    private static Task<RawResponse>? TrySend(MultiplexedConnection connection, PooledBufferWriter frame, Opcode opcode, CancellationToken cancellationToken)
    {
        int bodyLength = frame.WrittenCount - FrameHeader.Size;
        if (bodyLength > connection.Hello.MaxBodyLength)
        {
            // Sending it would cost the whole connection: the server answers FrameTooLarge and closes.
            throw new ArgumentException(
                $"The {opcode} body is {bodyLength} bytes; the server accepts at most {connection.Hello.MaxBodyLength} (maxBodyLength from Hello).");
        }
        return connection.TrySend(frame, opcode, cancellationToken);
    }
}
