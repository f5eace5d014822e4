using System.Diagnostics;
using System.Net.Sockets;
using Cdp.LoadTests.Protocols;
using Cdp.LoadTests.Workload;

namespace Cdp.LoadTests.Driver;

/// <summary>
/// One socket in a closed loop: it writes up to <c>pipeline</c> pre-encoded operations, then for every operation that
/// completes sends one more, each batch in one write. The loop does no serialization and no allocation: it copies
/// request bytes, finds reply boundaries, and records latency from the write of a batch to the read that completed
/// the operation.
/// </summary>
internal sealed class DriverConnection
{
    private const int InitialReceiveBytes = 64 << 10;
    private const int MaxReceiveBytes = 32 << 20;

    private readonly Socket socket;
    private readonly IWireCodec codec;
    private readonly EncodedRequests?[] requests;
    private readonly int[] repliesPerOperation;
    private readonly RequestSequence sequence;
    private readonly InFlightQueue inFlight;
    private readonly byte[] sendBuffer;
    private byte[] receiveBuffer = new byte[InitialReceiveBytes];
    private int receiveStart;
    private int receiveEnd;
    private int position;
    private long sentMeasured;

    /// <param name="socket">A connected socket, handshake done.</param>
    /// <param name="protocol">The target's protocol.</param>
    /// <param name="requests">Encoded requests indexed by <see cref="Operation"/>; null for operations the sequence never uses.</param>
    /// <param name="sequence">This connection's requests.</param>
    /// <param name="pipeline">Operations kept in flight.</param>
    public DriverConnection(Socket socket, IWireProtocol protocol, EncodedRequests?[] requests, RequestSequence sequence, int pipeline)
    {
        this.socket = socket;
        this.requests = requests;
        this.sequence = sequence;
        codec = protocol.CreateCodec();
        repliesPerOperation = [protocol.RepliesPerOperation(Operation.Lookup), protocol.RepliesPerOperation(Operation.Track)];
        inFlight = new InFlightQueue(pipeline);
        int longest = requests.Max(r => r?.MaxLength ?? 0);
        sendBuffer = new byte[pipeline * longest];
    }

    public async Task<ConnectionResult> RunAsync(MeasurementWindow window, CancellationToken hardStop)
    {
        var result = new ConnectionResult();
        try
        {
            long now = Stopwatch.GetTimestamp();
            int batch = 0;
            while (inFlight.Count < inFlight.Capacity && MaySend(window, now))
                batch += Append(batch, now >= window.From);
            await SendAsync(batch, hardStop).ConfigureAwait(false);

            while (inFlight.Count > 0)
            {
                int read = await socket.ReceiveAsync(receiveBuffer.AsMemory(receiveEnd), SocketFlags.None, hardStop).ConfigureAwait(false);
                now = Stopwatch.GetTimestamp();
                if (read == 0)
                    throw new EndOfStreamException($"The server closed the connection with {inFlight.Count} operations in flight.");
                receiveEnd += read;

                batch = 0;
                while (inFlight.Count > 0 && codec.TryReadReply(receiveBuffer.AsSpan(receiveStart, receiveEnd - receiveStart), out int length, out ReplyStatus status))
                {
                    receiveStart += length;
                    if (!inFlight.CompleteReply(status, out long sentAt, out ReplyStatus outcome, out bool measured))
                        continue;
                    if (measured)
                        Record(result, outcome, sentAt, now);
                    if (MaySend(window, now))
                        batch += Append(batch, now >= window.From);
                }
                if (receiveStart == receiveEnd)
                {
                    receiveStart = receiveEnd = 0;
                }
                else if (receiveEnd == receiveBuffer.Length)
                {
                    MakeRoomForMore();
                }
                await SendAsync(batch, hardStop).ConfigureAwait(false);
            }
            if (receiveEnd > receiveStart)
                throw new InvalidDataException($"{receiveEnd - receiveStart} bytes arrived that answer no request.");
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or IOException or InvalidDataException)
        {
            // Measured operations that will never be answered are failures; an unmeasured (warmup) one is not counted.
            result.Errors += inFlight.CountMeasured();
            result.Failure = ex is OperationCanceledException
                ? new TimeoutException($"{inFlight.Count} operations were still unanswered at the run's hard stop.")
                : ex;
        }
        return result;
    }

    private bool MaySend(MeasurementWindow window, long now)
        => now < window.Until && (now < window.From || window.RequestsPerConnection is not { } quota || sentMeasured < quota);

    /// <summary>Copies the next operation of the sequence into the send buffer at <paramref name="offset"/>; returns its length.</summary>
    private int Append(int offset, bool measured)
    {
        int key = sequence.Key(position);
        Operation operation = sequence.Operation(position);
        if (++position == sequence.Length)
            position = 0;

        ReadOnlySpan<byte> request = requests[(int)operation]![key];
        Span<byte> target = sendBuffer.AsSpan(offset, request.Length);
        request.CopyTo(target);
        codec.Stamp(target);
        inFlight.Enqueue(repliesPerOperation[(int)operation], measured);
        if (measured)
            sentMeasured++;
        return request.Length;
    }

    private async ValueTask SendAsync(int length, CancellationToken hardStop)
    {
        if (length == 0)
            return;
        inFlight.StampSendTime(Stopwatch.GetTimestamp());
        int sent = 0;
        while (sent < length)
            sent += await socket.SendAsync(sendBuffer.AsMemory(sent, length - sent), SocketFlags.None, hardStop).ConfigureAwait(false);
    }

    private static void Record(ConnectionResult result, ReplyStatus outcome, long sentAt, long now)
    {
        result.LastCompletion = now;
        if (outcome == ReplyStatus.Error)
        {
            result.Errors++;
            return;
        }
        if (outcome == ReplyStatus.Ok)
            result.Ok++;
        else
            result.NotFound++;
        long micros = (now - sentAt) * 1_000_000 / Stopwatch.Frequency;
        result.Latency.RecordValue(Math.Clamp(micros, 1, ConnectionResult.HighestTrackableMicros));
    }

    /// <summary>The buffer is full with an incomplete reply: move it to the front, or grow when it already is there.</summary>
    private void MakeRoomForMore()
    {
        int pending = receiveEnd - receiveStart;
        if (receiveStart > 0)
        {
            receiveBuffer.AsSpan(receiveStart, pending).CopyTo(receiveBuffer);
        }
        else
        {
            if (receiveBuffer.Length >= MaxReceiveBytes)
                throw new InvalidDataException($"A single reply exceeds {MaxReceiveBytes} bytes.");
            var larger = new byte[receiveBuffer.Length * 2];
            receiveBuffer.AsSpan(0, pending).CopyTo(larger);
            receiveBuffer = larger;
        }
        receiveStart = 0;
        receiveEnd = pending;
    }
}
