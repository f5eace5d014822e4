using System.Buffers;
using System.Buffers.Binary;
using System.Net.Sockets;
using Cdp.Protocol;
using Cdp.Server.Engine;
using Cdp.Server.Journal;
using Microsoft.Extensions.Logging;

namespace Cdp.Server.Binary;

/// <summary>
/// One accepted socket of a <see cref="SocketBinaryListener"/>: receives into one buffer, hands
/// every received byte to the connection's <see cref="BinarySession"/> on the receiving thread,
/// waits for the journal if the batch wrote anything, and sends the batch's replies with one send
/// (after a commit, from the journal's commit thread, which leaves the connection before it
/// processes anything more).
/// </summary>
/// <remarks>
/// <para>
/// One receive is outstanding at a time and the loop is the only code that touches the session and
/// the buffers, so neither is ever used by two threads at once (the FASTER session rule).
/// </para>
/// <para>
/// Buffer ownership: <c>receiveBuffer</c> (rented) holds bytes <c>[0, received)</c>, of which
/// <c>[0, consumed)</c> are answered frames; <see cref="Compact"/> moves the rest to the front after
/// each batch. It grows only when the frame at its front is larger than it (the header was already
/// checked against <see cref="CdpOptions.MaxFrameBodyBytes"/> by the session) and shrinks back once
/// that frame is gone. The replies live in <c>replies</c> until their send completes: awaiting the
/// send before reading again is the backpressure, so a client that does not read its replies makes
/// the server stop reading its requests and hold at most one batch of replies
/// (<see cref="BinarySession.MaxBatchOutputBytes"/> plus one reply).
/// </para>
/// </remarks>
sealed class SocketBinaryConnection
{
    /// <summary>Receive buffer size at accept; enough for hundreds of pipelined lookups per receive.</summary>
    const int InitialReceiveBytes = 16 * 1024;

    readonly Socket socket;
    readonly ProfileEngine engine;
    readonly ILogger logger;
    readonly long id;
    readonly int maxFrameBytes;
    readonly CancellationToken stopping;
    readonly CancellationToken aborted;
    readonly SocketReplyBuffer replies = new();
    /// <summary>
    /// Batches a connection may process back to back, each on bytes that were already waiting,
    /// before it yields its thread (see <see cref="RunAsync"/>).
    /// </summary>
    const int MaxBatchesInARow = 4;

    byte[] receiveBuffer;
    // Only once the connection subscribes to segments: pushes and replies then share the socket.
    SemaphoreSlim? sendLock;
    Task? pushLoop;
    int received;
    int batchesInARow;
    int consumed;

    /// <summary>
    /// Creates the connection. <paramref name="stopping"/> ends reading (the batch in hand is still
    /// answered); <paramref name="aborted"/> also gives up waiting for commits and sends.
    /// </summary>
    public SocketBinaryConnection(Socket socket, long id, ProfileEngine engine, ILogger logger, CancellationToken stopping, CancellationToken aborted)
    {
        this.socket = socket;
        this.id = id;
        this.engine = engine;
        this.logger = logger;
        this.stopping = stopping;
        this.aborted = aborted;
        maxFrameBytes = FrameHeader.Size + engine.Options.MaxFrameBodyBytes;
        receiveBuffer = ArrayPool<byte>.Shared.Rent(InitialReceiveBytes);
    }

    /// <summary>The connection's loop; completes when the connection is closed. Set by <see cref="Start"/>.</summary>
    public Task Running { get; private set; } = Task.CompletedTask;

    /// <summary>
    /// Starts serving on the thread pool (so a slow first batch never delays the accept loop) and
    /// returns <see cref="Running"/>.
    /// </summary>
    public Task Start() => Running = Task.Run(RunAsync);

    /// <summary>Serves the connection until the peer closes, framing is lost or the listener stops; never throws.</summary>
    async Task RunAsync()
    {
        BinarySession? session = null;
        try
        {
            session = new BinarySession(engine, logger);
            while (!stopping.IsCancellationRequested)
            {
                EnsureRoomForNextFrame();
                var receive = socket.ReceiveAsync(receiveBuffer.AsMemory(received), SocketFlags.None, stopping);
                if (!receive.IsCompleted)
                {
                    batchesInARow = 0;
                }
                else if (++batchesInARow >= MaxBatchesInARow || engine.Journal.OnCommitThread)
                {
                    // A pipelining client always has the next bytes waiting, so without this the
                    // loop would never give the thread back: with inline socket completions that
                    // thread is the epoll thread of every other connection on it. And the journal's
                    // commit thread, which resumed this loop to send the replies of a commit, must
                    // not process requests (ProcessBatchAsync checks too) or close the connection:
                    // every other connection's next commit waits for it.
                    batchesInARow = 0;
                    await Task.Yield();
                }
                int n = await receive;
                if (n == 0)
                {
                    if (received > consumed)
                        logger.LogDebug("Connection {Id} closed in the middle of a frame ({Bytes} bytes unread).", id, received - consumed);
                    break;
                }
                received += n;
                if (!await ProcessBatchAsync(session))
                    break;
                Compact();
            }
        }
        catch (JournalFailedException e)
        {
            logger.LogError(e, "Connection {Id} closed: its writes could not be made durable.", id);
        }
        catch (OperationCanceledException)
        {
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted
                                             or SocketError.Shutdown or SocketError.OperationAborted or SocketError.Interrupted)
        {
        }
        catch (ObjectDisposedException)
        {
            // The listener aborted the connection (its shutdown grace period ran out).
        }
        catch (Exception e)
        {
            logger.LogError(e, "Connection {Id} failed.", id);
        }
        finally
        {
            // Not on the commit thread: disposing the session takes the engine's session lock (held by a
            // compaction for its whole run), and whatever awaits this connection would run there too.
            if (engine.Journal.OnCommitThread)
                await Task.Yield();
            // Ends the subscription, and with it the push loop (its send fails once the socket is closed).
            session?.Dispose();
            Close();
            if (pushLoop is not null)
                await pushLoop;
            ReturnBuffers();
        }
    }

    /// <summary>
    /// Answers every complete frame received so far, in batches of at most
    /// <see cref="BinarySession.MaxBatchOutputBytes"/> of replies, each made durable and sent before
    /// the next one is processed. False when the connection must close.
    /// </summary>
    async ValueTask<bool> ProcessBatchAsync(BinarySession session)
    {
        while (true)
        {
            // Frames left over after a commit's replies (the batch reached the output limit) are
            // processed off the commit thread (see RunAsync).
            if (engine.Journal.OnCommitThread)
                await Task.Yield();
            // A single-segment sequence over the array: a struct, nothing allocated.
            var unread = new ReadOnlySequence<byte>(receiveBuffer, consumed, received - consumed);
            var outcome = session.Consume(ref unread, replies);
            consumed = received - (int)unread.Length;
            if (session.CommitAddress >= 0)
            {
                // Acknowledge only what is durable; if the journal fails, the replies are never sent.
                // Resumed on the commit thread: sending the replies and posting the next receive is
                // all that runs there, without a hop to the thread pool per connection and commit.
                await engine.Journal.WaitForCommitAsync(session.CommitAddress, aborted, resumeOnCommitThread: true);
                session.ClearCommitAddress();
            }
            if (replies.WrittenCount > 0)
            {
                if (sendLock is null)
                    await SendAllAsync(replies.WrittenMemory);
                else
                    await SendLockedAsync(replies.WrittenMemory);
                replies.Reset();
            }
            // After the Subscribe reply is out, so that it comes before the first push.
            if (session.TakeNewSubscription() is { } subscription)
            {
                sendLock ??= new SemaphoreSlim(1, 1);
                // Started on the pool: it drains what is queued already, which must not run on the commit thread.
                pushLoop = Task.Run(() => SegmentPushLoop.RunAsync(subscription, SendLockedAsync, logger, aborted));
            }
            if (outcome == ConsumeResult.Close)
                return false;
            if (outcome == ConsumeResult.NeedMoreData)
                return true;
        }
    }

    async ValueTask SendLockedAsync(ReadOnlyMemory<byte> bytes)
    {
        await sendLock!.WaitAsync(aborted);
        try
        {
            await SendAllAsync(bytes);
        }
        finally
        {
            sendLock.Release();
        }
    }

    async ValueTask SendAllAsync(ReadOnlyMemory<byte> bytes)
    {
        // A stream socket may take fewer bytes than offered; loop until the batch is out.
        while (!bytes.IsEmpty)
        {
            int sent = await socket.SendAsync(bytes, SocketFlags.None, aborted);
            bytes = bytes[sent..];
        }
    }

    /// <summary>Moves the bytes of incomplete frames to the front of the receive buffer.</summary>
    void Compact()
    {
        int left = received - consumed;
        if (left > 0 && consumed > 0)
            receiveBuffer.AsSpan(consumed, left).CopyTo(receiveBuffer);
        received = left;
        consumed = 0;
    }

    /// <summary>
    /// Makes room for the next receive: grows the buffer to the full length of the frame at its front
    /// when that does not fit, and goes back to the initial size once no large frame is pending.
    /// </summary>
    void EnsureRoomForNextFrame()
    {
        // The session has validated the header of an incomplete frame (or it would have closed the
        // connection), so its length is at most maxFrameBytes; the cap only guards that invariant.
        int frameBytes = received >= FrameHeader.Size
            ? (int)Math.Min(FrameHeader.Size + (long)BinaryPrimitives.ReadUInt32LittleEndian(receiveBuffer), maxFrameBytes)
            : 0;
        // Grow at most to twice what has actually arrived: a header that announces a large body costs
        // nothing until the body's bytes come in, so idle or hostile sockets cannot reserve memory.
        int wanted = Math.Max(Math.Max(Math.Min(frameBytes, 2 * received), received + 1), InitialReceiveBytes);
        bool tooSmall = wanted > receiveBuffer.Length;
        bool oversized = receiveBuffer.Length > InitialReceiveBytes && wanted <= InitialReceiveBytes;
        if (!tooSmall && !oversized)
            return;
        var resized = ArrayPool<byte>.Shared.Rent(wanted);
        receiveBuffer.AsSpan(0, received).CopyTo(resized);
        ArrayPool<byte>.Shared.Return(receiveBuffer);
        receiveBuffer = resized;
    }

    /// <summary>
    /// Closes the socket from outside the loop (the listener's shutdown grace period ran out): a
    /// pending receive or send fails and the loop ends. The loop alone returns the buffers.
    /// </summary>
    public void Abort() => socket.Dispose();

    /// <summary>Sends FIN after the last reply and closes the socket, as Kestrel's socket transport does.</summary>
    void Close()
    {
        try
        {
            socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
        socket.Dispose();
    }

    /// <summary>Returns the pooled buffers; called once, by the loop, after the socket is closed.</summary>
    void ReturnBuffers()
    {
        replies.Dispose();
        var b = receiveBuffer;
        receiveBuffer = [];
        if (b.Length > 0)
            ArrayPool<byte>.Shared.Return(b);
    }
}
