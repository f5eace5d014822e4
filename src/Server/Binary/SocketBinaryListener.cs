using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Cdp.Server.Engine;
using Microsoft.Extensions.Logging;

namespace Cdp.Server.Binary;

/// <summary>
/// Hosts the binary protocol on a plain TCP socket, without Kestrel: an accept loop and, per
/// connection, a <see cref="SocketBinaryConnection"/> that processes received frames inline on the
/// receive completion and sends each batch's replies with one send (Garnet's network model). Same
/// protocol semantics as <see cref="BinaryConnectionHandler"/>, with fewer thread hops and copies
/// per request: no pipes between the socket and the session.
/// </summary>
/// <remarks>
/// Start after the engine is open; stop (<see cref="StopAsync"/>) before it is disposed. Stopping ends
/// every connection's reading at once; a connection still answering its batch in hand gets
/// <see cref="ShutdownGrace"/> to send it, then its socket is closed.
/// </remarks>
public sealed class SocketBinaryListener : IAsyncDisposable
{
    /// <summary>How long <see cref="StopAsync"/> lets connections finish the batch in hand.</summary>
    public static readonly TimeSpan ShutdownGrace = TimeSpan.FromSeconds(5);

    readonly ProfileEngine engine;
    readonly ILogger logger;
    readonly Socket listenSocket;
    readonly CancellationTokenSource stopping = new();
    readonly CancellationTokenSource aborted = new();
    readonly ConcurrentDictionary<long, SocketBinaryConnection> connections = new();
    Task? acceptLoop;
    long nextConnectionId;
    readonly Lock stopGate = new();
    Task? stopTask;

    /// <summary>Binds to <paramref name="endPoint"/> (port 0: any free port) and starts accepting connections.</summary>
    public SocketBinaryListener(ProfileEngine engine, IPEndPoint endPoint, ILogger<SocketBinaryListener> logger)
    {
        this.engine = engine;
        this.logger = logger;
        listenSocket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            // As Kestrel does: a restarted server can bind while old connections sit in TIME_WAIT.
            listenSocket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            listenSocket.Bind(endPoint);
            listenSocket.Listen(512);
        }
        catch
        {
            listenSocket.Dispose();
            throw;
        }
        EndPoint = (IPEndPoint)listenSocket.LocalEndPoint!;
    }

    /// <summary>The bound address and port.</summary>
    public IPEndPoint EndPoint { get; }

    /// <summary>Connections being served now.</summary>
    public int ConnectionCount => connections.Count;

    /// <summary>Starts the accept loop.</summary>
    public void Start() => acceptLoop ??= Task.Run(AcceptLoopAsync);

    async Task AcceptLoopAsync()
    {
        while (!stopping.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listenSocket.AcceptAsync(stopping.Token);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            catch (ObjectDisposedException)
            {
                break;
            }
            catch (SocketException e)
            {
                // A connection that was reset before it was accepted, or too many open files: keep accepting.
                logger.LogWarning("Accepting a binary connection failed: {Error}.", e.SocketErrorCode);
                if (e.SocketErrorCode is SocketError.TooManyOpenSockets or SocketError.NoBufferSpaceAvailable)
                    await Task.Delay(100);
                continue;
            }
            try
            {
                socket.NoDelay = true;
            }
            catch (SocketException)
            {
                socket.Dispose();
                continue;
            }
            long id = Interlocked.Increment(ref nextConnectionId);
            var connection = new SocketBinaryConnection(socket, id, engine, logger, stopping.Token, aborted.Token);
            // Registered before it runs, so its removal (when it ends) can never come first.
            connections[id] = connection;
            _ = connection.Start().ContinueWith(static (_, state) =>
            {
                var (map, key) = ((ConcurrentDictionary<long, SocketBinaryConnection>, long))state!;
                map.TryRemove(key, out var _);
            }, (connections, id), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    /// <summary>
    /// Stops accepting and reading, waits up to <see cref="ShutdownGrace"/> for connections to answer
    /// the batch in hand, then closes the rest. Every call returns the same task, so a second caller
    /// (dispose after the host's stopping signal) also waits until every connection is closed.
    /// </summary>
    public Task StopAsync()
    {
        // Started on the thread pool: cancelling runs the connections' cancellation callbacks, not under this lock.
        lock (stopGate)
            return stopTask ??= Task.Run(StopCoreAsync);
    }

    async Task StopCoreAsync()
    {
        stopping.Cancel();
        listenSocket.Dispose();
        if (acceptLoop is not null)
            await acceptLoop;
        var running = connections.Values.Select(c => c.Running).ToArray();
        var all = Task.WhenAll(running);
        if (await Task.WhenAny(all, Task.Delay(ShutdownGrace)) != all)
        {
            logger.LogWarning("{Count} binary connections did not finish within {Grace}; closing them.", connections.Count, ShutdownGrace);
            aborted.Cancel();
            foreach (var connection in connections.Values)
                connection.Abort();
            await all;
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        stopping.Dispose();
        aborted.Dispose();
    }
}
