using Cdp.Server.Hosting;

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
