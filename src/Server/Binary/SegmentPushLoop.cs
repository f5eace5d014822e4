using System.Buffers;
using Cdp.Server.Segments;
using Microsoft.Extensions.Logging;

namespace Cdp.Server.Binary;

/// <summary>
/// Sends a connection's segment changes as push frames while the connection is otherwise idle:
/// reads the subscription's queue, packs what is waiting into one buffer and hands it to the host's
/// send, which serialises it with the replies so frames never interleave. Ends when the subscription
/// ends; one the server cut off for falling behind gets a last <c>{"overflow": true}</c> push.
/// </summary>
public static class SegmentPushLoop
{
    /// <summary>Most bytes of pushes sent at once.</summary>
    const int MaxBatchBytes = 64 * 1024;

    /// <summary>Runs until the subscription ends or <paramref name="cancellationToken"/> fires; never throws.</summary>
    public static async Task RunAsync(SegmentSubscription subscription, Func<ReadOnlyMemory<byte>, ValueTask> send, ILogger logger, CancellationToken cancellationToken)
    {
        var buffer = new ArrayBufferWriter<byte>(4096);
        var reader = subscription.Reader;
        try
        {
            while (await reader.WaitToReadAsync(cancellationToken))
            {
                buffer.ResetWrittenCount();
                while (buffer.WrittenCount < MaxBatchBytes && reader.TryRead(out var change))
                    BinaryResponseWriter.WriteSegmentChangeFrame(buffer, change);
                if (buffer.WrittenCount > 0)
                    await send(buffer.WrittenMemory);
            }
            if (subscription.Overflowed)
            {
                buffer.ResetWrittenCount();
                BinaryResponseWriter.WriteOverflowFrame(buffer);
                await send(buffer.WrittenMemory);
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or ObjectDisposedException or IOException or InvalidOperationException)
        {
            // The connection closed under the push: the connection's own loop reports and cleans up.
            logger.LogDebug(e, "Segment pushes stopped: the connection closed.");
        }
    }
}
