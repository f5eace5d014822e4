using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;
using Cdp.Protocol;

namespace Cdp.Client;

/// <summary>
/// One TCP connection carrying many concurrent requests. Callers queue complete frames; whichever caller finds no
/// flush running becomes the writer and sends everything queued in one batch, so concurrent callers share socket
/// writes. A single reader loop completes requests by request id, not by position, because the protocol allows
/// later servers to answer out of order.
/// </summary>
/// <remarks>
/// Once closed (server gone, framing lost, disposed) a connection never reopens; <see cref="ConnectionSlot"/>
/// replaces it. Every request in flight at that moment fails with <see cref="CdpConnectionException"/>.
/// </remarks>
internal sealed class MultiplexedConnection : IAsyncDisposable
{
    private const int ReceiveBufferSize = 64 * 1024;
    private const int SendBatchSize = 64 * 1024;

    private readonly Socket socket;
    // Set when the connection speaks TLS: then every byte goes through it instead of the socket.
    private readonly System.Net.Security.SslStream? tls;
    private readonly string endpoint;
    private readonly TimeSpan requestTimeout;
    private readonly long requestTimeoutTicks;
    private readonly ConcurrentDictionary<uint, PendingRequest> inFlight = new();
    private readonly ConcurrentQueue<PooledBufferWriter> outgoing = new();
    private readonly byte[] sendBatch = new byte[SendBatchSize];
    private readonly Timer? timeoutSweep;
    private readonly Task readLoop;
    private int nextRequestId;
    private int flushing;
    private int closed;

    private MultiplexedConnection(Socket socket, System.Net.Security.SslStream? tls, string endpoint, TimeSpan requestTimeout)
    {
        this.socket = socket;
        this.tls = tls;
        this.endpoint = endpoint;
        this.requestTimeout = requestTimeout;
        requestTimeoutTicks = requestTimeout == Timeout.InfiniteTimeSpan
            ? 0
            : Math.Max(1, (long)(requestTimeout.TotalSeconds * Stopwatch.Frequency));

        // The loops outlive the call that opened the connection; they must not carry its AsyncLocals along.
        using (ExecutionContext.SuppressFlow())
        {
            readLoop = Task.Run(ReadLoopAsync);
            if (requestTimeoutTicks != 0)
            {
                // Sweeping a table is cheaper than a timer per request; a tenth of the timeout keeps expiry
                // within about 10 % of the configured value.
                TimeSpan period = TimeSpan.FromTicks(Math.Clamp(requestTimeout.Ticks / 10, TimeSpan.TicksPerMillisecond * 5, TimeSpan.TicksPerMillisecond * 250));
                timeoutSweep = new Timer(static state => ((MultiplexedConnection)state!).SweepTimeouts(), this, period, period);
            }
        }
    }

    /// <summary>The server's Hello reply; until it arrives, the protocol's default limits apply.</summary>
    public HelloReply Hello { get; private set; } = new(FrameHeader.ProtocolVersion, "", ProtocolLimits.DefaultMaxBodyLength);

    public bool IsOpen => Volatile.Read(ref closed) == 0;

    public string Endpoint => endpoint;

    /// <summary>Connects, sends Hello and waits for its reply, all within <see cref="CdpClientOptions.ConnectTimeout"/>.</summary>
    /// <exception cref="CdpConnectionException">The server could not be reached, closed the connection or did not answer in time.</exception>
    /// <exception cref="CdpException">The server refused the Hello (for example <see cref="Status.UnsupportedVersion"/>).</exception>
    public static async Task<MultiplexedConnection> OpenAsync(CdpClientOptions options, CancellationToken cancellationToken)
    {
        string endpoint = $"{options.Host}:{options.Port}";
        using var connectCancellation = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (options.ConnectTimeout != Timeout.InfiniteTimeSpan)
            connectCancellation.CancelAfter(options.ConnectTimeout);

        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        MultiplexedConnection? connection = null;
        try
        {
            await socket.ConnectAsync(options.Host, options.Port, connectCancellation.Token).ConfigureAwait(false);
            System.Net.Security.SslStream? tls = null;
            if (options.UseTls)
            {
                tls = new System.Net.Security.SslStream(new NetworkStream(socket, ownsSocket: false), leaveInnerStreamOpen: false);
                try
                {
                    await tls.AuthenticateAsClientAsync(new System.Net.Security.SslClientAuthenticationOptions
                    {
                        TargetHost = options.TlsHost ?? options.Host,
                        RemoteCertificateValidationCallback = options.RemoteCertificateValidation,
                    }, connectCancellation.Token).ConfigureAwait(false);
                }
                catch (System.Security.Authentication.AuthenticationException e)
                {
                    await tls.DisposeAsync().ConfigureAwait(false);
                    throw new CdpConnectionException($"The TLS handshake with {endpoint} failed: {e.Message}", e);
                }
            }
            connection = new MultiplexedConnection(socket, tls, endpoint, options.RequestTimeout);

            var frame = new PooledBufferWriter(64);
            FrameEncoder.WriteFrame(frame, Opcode.Hello, 0, options.ClientName,
                static (ref MessagePack.MessagePackWriter w, string? client) => RequestEncoder.WriteHello(ref w, FrameHeader.ProtocolVersion, client));
            Task<RawResponse> helloSent = connection.TrySend(frame, Opcode.Hello, connectCancellation.Token)
                ?? throw new CdpConnectionException($"The connection to {endpoint} closed before Hello could be sent.");
            RawResponse reply = await helloSent.ConfigureAwait(false);
            if (reply.Status != Status.Ok)
                throw ResponseDecoder.CreateException(reply.Status, reply.Body);
            try
            {
                connection.Hello = ResponseDecoder.DecodeHello(reply.Body);
            }
            catch (InvalidDataException ex)
            {
                throw new CdpConnectionException($"The Hello reply from {endpoint} is not valid: {ex.Message}", ex);
            }
            if (options.ApiKey is { } apiKey)
            {
                var auth = new PooledBufferWriter(64);
                FrameEncoder.WriteFrame(auth, Opcode.Auth, 0, apiKey, static (ref MessagePack.MessagePackWriter w, string key) => RequestEncoder.WriteAuth(ref w, key));
                Task<RawResponse> authSent = connection.TrySend(auth, Opcode.Auth, connectCancellation.Token)
                    ?? throw new CdpConnectionException($"The connection to {endpoint} closed before Auth could be sent.");
                RawResponse authReply = await authSent.ConfigureAwait(false);
                if (authReply.Status != Status.Ok)
                    throw ResponseDecoder.CreateException(authReply.Status, authReply.Body);
            }
            return connection;
        }
        catch (Exception ex)
        {
            if (connection is not null)
                await connection.DisposeAsync().ConfigureAwait(false);
            else
                socket.Dispose();

            if (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested)
                throw new CdpConnectionException($"Could not connect to {endpoint} within {options.ConnectTimeout.TotalMilliseconds:0} ms.", new TimeoutException());
            if (ex is SocketException socketError)
                throw new CdpConnectionException($"Could not connect to {endpoint}: {socketError.Message}", socketError);
            throw;
        }
    }

    /// <summary>
    /// Sends one frame whose request id is still to be assigned. On success the connection owns
    /// <paramref name="frame"/> and the task completes with the response. Returns null, leaving the frame with the
    /// caller, when the connection closed before the frame was queued: nothing reached the server, so the caller
    /// may safely send it on a new connection.
    /// </summary>
    public Task<RawResponse>? TrySend(PooledBufferWriter frame, Opcode opcode, CancellationToken cancellationToken)
    {
        if (!IsOpen)
            return null;

        long deadline = requestTimeoutTicks == 0 ? long.MaxValue : Stopwatch.GetTimestamp() + requestTimeoutTicks;
        uint requestId = (uint)Interlocked.Increment(ref nextRequestId);
        var request = new PendingRequest(this, requestId, opcode, deadline);
        // Ids only need to be unique among requests in flight; after 2^32 requests skip any still waiting.
        while (!inFlight.TryAdd(requestId, request))
            request.RequestId = requestId = (uint)Interlocked.Increment(ref nextRequestId);

        // Pairs with Close: it sets 'closed' and then drains the table; here the table is written and then 'closed'
        // read. The full fence stops the read moving before the write, so a request is either drained by Close or
        // sees the flag — never neither.
        Interlocked.MemoryBarrier();
        if (!IsOpen)
        {
            if (!inFlight.TryRemove(new KeyValuePair<uint, PendingRequest>(requestId, request)))
                _ = request.Task.Exception; // Close already failed it; nobody will await this task.
            return null;
        }

        FrameEncoder.SetRequestId(frame.WrittenSpan, requestId);
        if (cancellationToken.CanBeCanceled)
            request.RegisterCancellation(cancellationToken, OnCanceled);
        outgoing.Enqueue(frame);
        if (Interlocked.CompareExchange(ref flushing, 1, 0) == 0)
            _ = FlushAsync(onCallerThread: true);
        return request.Task;
    }

    public async ValueTask DisposeAsync()
    {
        Close("The client was disposed.", null);
        try
        {
            await readLoop.ConfigureAwait(false);
        }
        catch
        {
            // The read loop reports its failure through Close; nothing left to observe.
        }
    }

    private static void OnCanceled(object? state, CancellationToken token)
    {
        var request = (PendingRequest)state!;
        // Removing frees the id; a response that still arrives for it is ignored.
        request.Owner.inFlight.TryRemove(new KeyValuePair<uint, PendingRequest>(request.RequestId, request));
        request.Cancel(token);
    }

    /// <summary>
    /// Sends everything queued, batching frames into one buffer. Only one flush runs at a time (<see cref="flushing"/>).
    /// The caller that starts it writes one batch on its own thread (the fast path for a lone request); if more is
    /// queued after that, the rest continues on the thread pool so one caller is not made to write for everybody.
    /// </summary>
    private async Task FlushAsync(bool onCallerThread)
    {
        try
        {
            while (true)
            {
                int used = 0;
                PooledBufferWriter? oversized = null;
                while (outgoing.TryPeek(out PooledBufferWriter? next))
                {
                    int length = next.WrittenCount;
                    if (length > SendBatchSize - used)
                    {
                        // Frames larger than the batch buffer go out on their own, right after the batch.
                        if (length > SendBatchSize)
                            outgoing.TryDequeue(out oversized);
                        break;
                    }
                    outgoing.TryDequeue(out PooledBufferWriter? frame);
                    frame!.WrittenSpan.CopyTo(sendBatch.AsSpan(used));
                    used += length;
                    frame.Dispose();
                }

                if (used > 0)
                    await SendAllAsync(sendBatch.AsMemory(0, used)).ConfigureAwait(false);
                if (oversized is not null)
                {
                    using (oversized)
                        await SendAllAsync(oversized.WrittenMemory).ConfigureAwait(false);
                }

                if (used == 0 && oversized is null)
                {
                    // A frame queued after the last TryPeek saw flushing == 1 and left it to this flush, so look
                    // again after releasing. Exchange is a full fence, pairing with the enqueue + CompareExchange.
                    Interlocked.Exchange(ref flushing, 0);
                    if (outgoing.IsEmpty || Interlocked.CompareExchange(ref flushing, 1, 0) != 0)
                        return;
                }
                else if (onCallerThread && !outgoing.IsEmpty)
                {
                    ThreadPool.UnsafeQueueUserWorkItem(static c => _ = c.FlushAsync(onCallerThread: false), this, preferLocal: false);
                    return;
                }
            }
        }
        catch (Exception ex)
        {
            Close($"Sending to {endpoint} failed.", ex);
        }
    }

    private async ValueTask SendAllAsync(ReadOnlyMemory<byte> data)
    {
        while (!data.IsEmpty)
        {
            if (tls is not null)
            {
                await tls.WriteAsync(data).ConfigureAwait(false);
                return;
            }
            int sent = await socket.SendAsync(data, SocketFlags.None).ConfigureAwait(false);
            data = data[sent..];
        }
    }

    private async Task ReadLoopAsync()
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(ReceiveBufferSize);
        int start = 0, end = 0;
        try
        {
            while (true)
            {
                int received = tls is not null
                    ? await tls.ReadAsync(buffer.AsMemory(end)).ConfigureAwait(false)
                    : await socket.ReceiveAsync(buffer.AsMemory(end), SocketFlags.None).ConfigureAwait(false);
                if (received == 0)
                {
                    Close(end > start
                        ? $"The server at {endpoint} closed the connection in the middle of a frame."
                        : $"The server at {endpoint} closed the connection.", null);
                    return;
                }
                end += received;

                int needed = DispatchCompleteFrames(buffer, ref start, end);
                if (start == end)
                {
                    start = end = 0;
                    if (buffer.Length > ReceiveBufferSize)
                    {
                        // Give back the space a single huge response needed.
                        ArrayPool<byte>.Shared.Return(buffer);
                        buffer = ArrayPool<byte>.Shared.Rent(ReceiveBufferSize);
                    }
                }
                else if (needed > buffer.Length - start)
                {
                    // The partial frame does not fit behind 'start': move it to the front, or grow for a big frame.
                    byte[] target = needed <= buffer.Length ? buffer : ArrayPool<byte>.Shared.Rent(Math.Max(needed, buffer.Length * 2));
                    Buffer.BlockCopy(buffer, start, target, 0, end - start);
                    if (target != buffer)
                    {
                        ArrayPool<byte>.Shared.Return(buffer);
                        buffer = target;
                    }
                    end -= start;
                    start = 0;
                }
            }
        }
        catch (Exception ex)
        {
            Close(ex is InvalidDataException
                ? $"The response stream from {endpoint} is not valid protocol v1: {ex.Message}"
                : $"Receiving from {endpoint} failed.", ex);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Completes every whole frame in <c>buffer[start..end]</c>; returns the size the next, partial frame needs.</summary>
    private int DispatchCompleteFrames(byte[] buffer, ref int start, int end)
    {
        while (true)
        {
            ReadOnlySpan<byte> available = buffer.AsSpan(start, end - start);
            if (!FrameDecoder.TryReadFrame(available, out FrameHeader header, out int frameLength))
                return frameLength;
            Dispatch(header, available.Slice(FrameHeader.Size, header.BodyLength));
            start += frameLength;
        }
    }

    /// <summary>Receives the body of every push frame (segment changes); set before subscribing. Pushes are never matched to requests.</summary>
    public Action<ReadOnlyMemory<byte>>? PushReceived { get; set; }

    /// <summary>Told once, with the reason, when the connection closes.</summary>
    public Action<Exception>? Closed { get; set; }

    private void Dispatch(in FrameHeader header, ReadOnlySpan<byte> body)
    {
        if ((header.Flags & FrameHeader.PushFlag) != 0)
        {
            PushReceived?.Invoke(body.ToArray());
            return;
        }
        // Absent: the request timed out or was canceled and its slot freed; the late answer has nobody to go to.
        if (!inFlight.TryRemove(header.RequestId, out PendingRequest? request))
            return;
        if (header.Opcode != request.Opcode)
        {
            inFlight.TryAdd(header.RequestId, request); // Let Close fail it along with the rest.
            throw new InvalidDataException($"Response {header.RequestId} repeats opcode {header.Opcode}, but the request was {request.Opcode}.");
        }
        // Copied because the receive buffer is reused as soon as this returns, while the caller reads the body later.
        request.Complete(new RawResponse(header.Opcode, header.Status, body.IsEmpty ? [] : body.ToArray()));
    }

    private void SweepTimeouts()
    {
        if (inFlight.IsEmpty)
            return;
        long now = Stopwatch.GetTimestamp();
        foreach (KeyValuePair<uint, PendingRequest> entry in inFlight)
        {
            if (entry.Value.Deadline <= now && inFlight.TryRemove(entry))
            {
                entry.Value.Fail(new TimeoutException(
                    $"{entry.Value.Opcode} request {entry.Key} to {endpoint} got no response within {requestTimeout.TotalMilliseconds:0} ms."));
            }
        }
    }

    private void Close(string reason, Exception? cause)
    {
        if (Interlocked.Exchange(ref closed, 1) != 0)
            return;
        Closed?.Invoke(new CdpConnectionException(reason, cause));
        timeoutSweep?.Dispose();
        try
        {
            socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
            // Already reset by the peer.
        }
        catch (ObjectDisposedException)
        {
        }
        tls?.Dispose();
        socket.Dispose();

        foreach (KeyValuePair<uint, PendingRequest> entry in inFlight)
        {
            if (inFlight.TryRemove(entry))
            {
                // One exception per request: a shared instance would have its stack trace rewritten by every awaiter.
                Opcode opcode = entry.Value.Opcode;
                string outcome = opcode is Opcode.Identify or Opcode.Track
                    ? " The write may or may not have been applied; resend it with the same messageId to apply it at most once."
                    : "";
                entry.Value.Fail(new CdpConnectionException($"{reason} {opcode} request {entry.Key} got no response.{outcome}", cause));
            }
        }
    }
}
