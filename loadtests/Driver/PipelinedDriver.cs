using System.Diagnostics;
using System.Net.Sockets;
using Cdp.LoadTests.Protocols;
using Cdp.LoadTests.Workload;
using HdrHistogram;

namespace Cdp.LoadTests.Driver;

/// <summary>
/// Runs a closed loop over raw sockets against one target: <c>connections</c> sockets, each with <c>pipeline</c>
/// operations in flight. The same driver serves every protocol, so client costs are the same for every target.
/// </summary>
/// <remarks>
/// A closed loop under-reports tail latency when the server stalls (coordinated omission): a stalled connection sends
/// nothing more, so a stall is one slow sample per in-flight request rather than many. Compare tails across pipeline
/// depths rather than trusting one figure.
/// </remarks>
internal sealed class PipelinedDriver(IWireProtocol protocol, string host, int port)
{
    /// <summary>Connects <paramref name="count"/> sockets and runs the protocol's handshake on each.</summary>
    /// <exception cref="SocketException">The target refused or timed out.</exception>
    public async Task<Socket[]> ConnectAsync(int count, TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        var sockets = new List<Socket>(count);
        try
        {
            for (int i = 0; i < count; i++)
            {
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                sockets.Add(socket);
                await socket.ConnectAsync(host, port, cancel.Token).ConfigureAwait(false);
                await protocol.HandshakeAsync(socket, cancel.Token).ConfigureAwait(false);
            }
            return [.. sockets];
        }
        catch
        {
            foreach (Socket socket in sockets)
                socket.Dispose();
            throw;
        }
    }

    /// <summary>Runs one measured round on fresh connections and closes them afterwards.</summary>
    /// <param name="requests">Encoded requests indexed by <see cref="Operation"/>.</param>
    /// <param name="sequences">One request sequence per connection.</param>
    /// <param name="pipeline">Operations in flight per connection.</param>
    /// <param name="warmup">Unmeasured time first.</param>
    /// <param name="duration">Measured time (sending stops after it).</param>
    /// <param name="requestsPerConnection">Optional budget of measured operations per connection.</param>
    /// <param name="drainTimeout">How long replies may take after sending stopped before the run is cut.</param>
    /// <param name="atMeasureStart">Called when the measured window opens (to sample CPU counters).</param>
    public async Task<DriverRunResult> RunAsync(EncodedRequests?[] requests, IReadOnlyList<RequestSequence> sequences, int pipeline,
        TimeSpan warmup, TimeSpan duration, long? requestsPerConnection, TimeSpan drainTimeout, Action? atMeasureStart = null)
    {
        Socket[] sockets = await ConnectAsync(sequences.Count, TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        try
        {
            var connections = new DriverConnection[sockets.Length];
            for (int i = 0; i < sockets.Length; i++)
                connections[i] = new DriverConnection(sockets[i], protocol, requests, sequences[i], pipeline);

            // The hard stop bounds the round whatever the server does: no reply is waited for past it.
            using var hardStop = new CancellationTokenSource(warmup + duration + drainTimeout);
            var window = MeasurementWindow.StartingNow(warmup, duration, requestsPerConnection);
            Task sampler = atMeasureStart is null ? Task.CompletedTask : Task.Delay(warmup).ContinueWith(_ => atMeasureStart(), TaskScheduler.Default);
            var runs = connections.Select(c => Task.Run(() => c.RunAsync(window, hardStop.Token))).ToArray();
            ConnectionResult[] results = await Task.WhenAll(runs).ConfigureAwait(false);
            await sampler.ConfigureAwait(false);
            return Merge(window, results);
        }
        finally
        {
            foreach (Socket socket in sockets)
                socket.Dispose();
        }
    }

    private static DriverRunResult Merge(MeasurementWindow window, ConnectionResult[] results)
    {
        var latency = new LongHistogram(ConnectionResult.HighestTrackableMicros, 3);
        long ok = 0, notFound = 0, errors = 0, last = 0;
        var failures = new List<Exception>();
        foreach (ConnectionResult r in results)
        {
            latency.Add(r.Latency);
            ok += r.Ok;
            notFound += r.NotFound;
            errors += r.Errors;
            last = Math.Max(last, r.LastCompletion);
            if (r.Failure is not null)
                failures.Add(r.Failure);
        }
        // From the window's start to the last measured reply: the replies to the final sends are part of the run.
        TimeSpan elapsed = last > window.From ? Stopwatch.GetElapsedTime(window.From, last) : TimeSpan.Zero;
        return new DriverRunResult(elapsed, ok, notFound, errors, latency, failures);
    }
}
