using Cdp.Server.Hosting;

// FASTER's Linux device does blocking O_SYNC writes on thread-pool threads; a checkpoint issues
// many at once. With the pool's default minimum (one thread per core) requests then wait up to a
// second or more for the pool to grow. A higher floor lets it add threads without that delay.
ThreadPool.GetMinThreads(out int workers, out int completionPorts);
ThreadPool.SetMinThreads(Math.Max(workers, 64), completionPorts);

// Run socket completions on the runtime's epoll threads (one per core) instead of handing each to
// the thread pool: the binary transport then answers a request on the thread that saw it arrive,
// as Garnet and Redis do. Measured here at 50 connections x 1: 24 -> 18-19 us of server CPU per
// lookup and 0.75x -> 0.9-1.1x Redis's throughput (docs/performance.md). The price: a lookup that
// must read from disk blocks the other connections of that epoll thread until the read returns.
// The runtime reads the variable once, when the first socket is created, so it is set before the
// host starts; an operator's own value (0 turns it off) wins.
if (Environment.GetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS") is null)
    Environment.SetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS", "1");

// `cdp-server hash-key KEY` prints what Cdp:ApiKeys:{name}:KeyHash wants, so the key itself is never configured.
if (args is ["hash-key", var key])
{
    Console.WriteLine(Cdp.Server.Access.ApiKeyRegistry.HashOf(key));
    return 0;
}

try
{
    await using var server = await CdpServer.StartAsync(args);
    await server.WaitForShutdownAsync();
    return 0;
}
catch (Exception e) when (e is InvalidOperationException or InvalidDataException)
{
    // Configuration and recovery errors: one clear line, no stack trace, non-zero exit.
    Console.Error.WriteLine(e.Message);
    return 2;
}
