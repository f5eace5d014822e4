namespace Cdp.Client;

/// <summary>
/// One position in the client's connection pool. Holds the current connection and replaces it when it has
/// closed: the first caller to notice starts the reconnect (with Hello) and every caller arriving meanwhile awaits
/// the same attempt, so a server restart costs one connect per slot, not one per request.
/// </summary>
internal sealed class ConnectionSlot : IAsyncDisposable
{
    private readonly CdpClientOptions options;
    private readonly object gate = new();
    private MultiplexedConnection? current;
    private Task<MultiplexedConnection>? connecting;
    private bool disposed;

    public ConnectionSlot(CdpClientOptions options)
    {
        this.options = options;
    }

    /// <summary>The latest connection, open or not; null before the first connect succeeded.</summary>
    public MultiplexedConnection? Current => Volatile.Read(ref current);

    /// <summary>Returns the open connection, connecting first when there is none.</summary>
    /// <exception cref="CdpConnectionException">Connecting failed; the next call tries again.</exception>
    public ValueTask<MultiplexedConnection> GetAsync(CancellationToken cancellationToken)
    {
        MultiplexedConnection? connection = Volatile.Read(ref current);
        if (connection is not null && connection.IsOpen)
            return new ValueTask<MultiplexedConnection>(connection);
        return new ValueTask<MultiplexedConnection>(ReconnectAsync(cancellationToken));
    }

    public async ValueTask DisposeAsync()
    {
        MultiplexedConnection? connection;
        lock (gate)
        {
            disposed = true;
            connection = current;
            current = null;
        }
        if (connection is not null)
            await connection.DisposeAsync().ConfigureAwait(false);
    }

    private Task<MultiplexedConnection> ReconnectAsync(CancellationToken cancellationToken)
    {
        Task<MultiplexedConnection> attempt;
        lock (gate)
        {
            ObjectDisposedException.ThrowIf(disposed, typeof(CdpClient));
            if (current is { IsOpen: true } open)
                return Task.FromResult(open);
            // A finished attempt is either published (and has closed since) or failed; both call for a new one.
            if (connecting is null || connecting.IsCompleted)
            {
                connecting = OpenAndPublishAsync();
                // Callers that stop waiting (canceled) must not leave the failure unobserved.
                connecting.ContinueWith(static t => _ = t.Exception, CancellationToken.None,
                    TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            }
            attempt = connecting;
        }
        // The shared attempt is bounded by ConnectTimeout, not by one caller's token: other callers may still want it.
        return cancellationToken.CanBeCanceled ? attempt.WaitAsync(cancellationToken) : attempt;
    }

    private async Task<MultiplexedConnection> OpenAndPublishAsync()
    {
        MultiplexedConnection connection = await MultiplexedConnection.OpenAsync(options, CancellationToken.None).ConfigureAwait(false);
        MultiplexedConnection? previous = null;
        bool published;
        lock (gate)
        {
            published = !disposed;
            if (published)
            {
                previous = current;
                current = connection;
            }
        }
        if (!published)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw new ObjectDisposedException(nameof(CdpClient));
        }
        // The previous connection has closed already; disposing it only waits for its reader loop to end.
        if (previous is not null)
            await previous.DisposeAsync().ConfigureAwait(false);
        return connection;
    }
}
