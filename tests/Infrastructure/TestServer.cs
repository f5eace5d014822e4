using Cdp.Server.Engine;
using Cdp.Server.Hosting;
using Microsoft.Extensions.Logging;

namespace Cdp.Tests.Infrastructure;

/// <summary>
/// A real Cdp server in this process: Kestrel on 127.0.0.1 with free ports, a temporary data folder
/// (deleted on dispose unless the test passed its own), the real FASTER store and journal.
/// </summary>
public sealed class TestServer : IAsyncDisposable
{
    readonly CdpServer server;
    readonly bool ownsDataDir;

    TestServer(CdpServer server, string dataDir, bool ownsDataDir)
    {
        this.server = server;
        DataDir = dataDir;
        this.ownsDataDir = ownsDataDir;
        Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{server.HttpPort}") };
    }

    /// <summary>The data folder.</summary>
    public string DataDir { get; }
    /// <summary>HTTP client for the facade.</summary>
    public HttpClient Http { get; }
    /// <summary>Bound binary port.</summary>
    public int BinaryPort => server.BinaryPort;
    /// <summary>Bound HTTP port.</summary>
    public int HttpPort => server.HttpPort;
    /// <summary>The engine.</summary>
    public ProfileEngine Engine => server.Engine;
    /// <summary>The addresses the listeners are bound to.</summary>
    public (System.Net.IPAddress Http, System.Net.IPAddress Binary) BoundAddresses => server.BoundAddresses;

    /// <summary>Starts a server; <paramref name="settings"/> are extra configuration keys, e.g. <c>("Store:MemoryBytes", "65536")</c>.</summary>
    public static Task<TestServer> StartAsync(string? dataDir = null, params (string Key, string Value)[] settings)
        => StartAsync(null, dataDir, settings);

    /// <summary>Starts a server whose engine reads time from <paramref name="time"/> (null: the system clock).</summary>
    public static async Task<TestServer> StartAsync(TimeProvider? time, string? dataDir, params (string Key, string Value)[] settings)
    {
        bool owns = dataDir is null;
        dataDir ??= NewDataDir();
        var args = new List<string> { "--data-dir", dataDir, "--http-port", "0", "--binary-port", "0" };
        foreach (var (key, value) in settings)
            args.Add($"--Cdp:{key}={value}");
        var server = await CdpServer.StartAsync(args.ToArray(), logging => logging.ClearProviders().SetMinimumLevel(LogLevel.Warning), time);
        return new TestServer(server, dataDir, owns);
    }

    /// <summary>A fresh temporary folder.</summary>
    public static string NewDataDir()
    {
        var dir = Path.Combine(Path.GetTempPath(), "cdp-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    /// <summary>Stops the server gracefully (final checkpoint).</summary>
    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await server.DisposeAsync();
        if (ownsDataDir)
            TryDelete(DataDir);
    }

    /// <summary>
    /// Copies a live server's data folder, as a crash would leave it: everything acknowledged is in
    /// the journal's files, while the store's may be mid-write.
    /// </summary>
    public static void CopyDataDirWhileLive(string from, string to)
    {
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            // The live server holds LOCK exclusively; after a real crash the lock is simply released.
            if (Path.GetFileName(file) == "LOCK")
                continue;
            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            using var source = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var destination = File.Create(target);
            source.CopyTo(destination);
        }
    }

    /// <summary>Deletes a folder, ignoring failures (a test must not fail on clean-up).</summary>
    public static void TryDelete(string dir)
    {
        try
        {
            Directory.Delete(dir, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
