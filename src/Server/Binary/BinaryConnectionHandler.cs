using Cdp.Server.Engine;
using Cdp.Server.Journal;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Cdp.Server.Binary;

/// <summary>
/// Hosts the binary protocol on a Kestrel listener. Per read: hand every byte to the connection's
/// <see cref="BinarySession"/>, wait for the journal if the batch wrote anything, then flush all
/// replies at once — pipelined requests share one flush and one group commit.
/// </summary>
/// <remarks>
/// On shutdown the handler stops reading once the batch in hand is answered and closes the
/// connection, so open client connections never hold up the final checkpoint.
/// </remarks>
public sealed class BinaryConnectionHandler(ProfileEngine engine, IHostApplicationLifetime lifetime, ILogger<BinaryConnectionHandler> logger) : ConnectionHandler
{
    /// <inheritdoc />
    public override async Task OnConnectedAsync(ConnectionContext connection)
    {
        var input = connection.Transport.Input;
        var output = connection.Transport.Output;
        BinarySession? session = null;
        // Only once the connection subscribes to segments: pushes and replies then share the output.
        SemaphoreSlim? writeLock = null;
        Task? pushLoop = null;
        using var stopping = CancellationTokenSource.CreateLinkedTokenSource(connection.ConnectionClosed, lifetime.ApplicationStopping);
        try
        {
            session = new BinarySession(engine, logger);
            while (true)
            {
                var result = await input.ReadAsync(stopping.Token);
                var buffer = result.Buffer;
                if (writeLock is not null)
                    await writeLock.WaitAsync(connection.ConnectionClosed);
                ConsumeResult outcome;
                FlushResult flush;
                try
                {
                    outcome = session.Consume(ref buffer, output);
                    if (session.CommitAddress >= 0)
                    {
                        // Acknowledge only what is durable; if the journal fails, the replies are never sent.
                        await engine.Journal.WaitForCommitAsync(session.CommitAddress, connection.ConnectionClosed);
                        session.ClearCommitAddress();
                    }
                    // FlushAsync waits while the client is not reading: that is the backpressure.
                    flush = await output.FlushAsync(connection.ConnectionClosed);
                }
                finally
                {
                    writeLock?.Release();
                }
                // After the Subscribe reply is flushed, so that it comes before the first push.
                if (session.TakeNewSubscription() is { } subscription)
                {
                    var gate = writeLock ??= new SemaphoreSlim(1, 1);
                    pushLoop = SegmentPushLoop.RunAsync(subscription, async bytes =>
                    {
                        await gate.WaitAsync(connection.ConnectionClosed);
                        try
                        {
                            await output.WriteAsync(bytes, connection.ConnectionClosed);
                        }
                        finally
                        {
                            gate.Release();
                        }
                    }, logger, connection.ConnectionClosed);
                }
                // With frames left unprocessed, mark nothing more as examined so the next read returns at once.
                input.AdvanceTo(buffer.Start, outcome == ConsumeResult.OutputFull ? buffer.Start : buffer.End);
                if (outcome == ConsumeResult.Close || flush.IsCompleted)
                    break;
                if (outcome == ConsumeResult.OutputFull)
                    continue;
                if (result.IsCompleted || result.IsCanceled)
                {
                    if (!buffer.IsEmpty)
                        logger.LogDebug("Connection {Id} closed in the middle of a frame ({Bytes} bytes unread).", connection.ConnectionId, buffer.Length);
                    break;
                }
            }
        }
        catch (JournalFailedException e)
        {
            logger.LogError(e, "Connection {Id} closed: its writes could not be made durable.", connection.ConnectionId);
            connection.Abort();
        }
        catch (OperationCanceledException)
        {
        }
        catch (ConnectionResetException)
        {
        }
        catch (Exception e)
        {
            logger.LogError(e, "Connection {Id} failed.", connection.ConnectionId);
        }
        finally
        {
            session?.Dispose();
            if (pushLoop is not null)
                await pushLoop;
            await input.CompleteAsync();
            await output.CompleteAsync();
        }
    }
}
