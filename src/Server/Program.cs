using Cdp.Server.Hosting;

// FASTER's Linux device does blocking O_SYNC writes on thread-pool threads; a checkpoint issues
// many at once. With the pool's default minimum (one thread per core) requests then wait up to a
// second or more for the pool to grow. A higher floor lets it add threads without that delay.
ThreadPool.GetMinThreads(out int workers, out int completionPorts);
ThreadPool.SetMinThreads(Math.Max(workers, 64), completionPorts);

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
