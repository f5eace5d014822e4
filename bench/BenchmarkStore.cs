using Cdp.Server.Engine;
using Cdp.Server.Hosting;
using Cdp.Server.Profiles;
using Microsoft.Extensions.Logging.Abstractions;

namespace Cdp.Bench;

/// <summary>
/// A real engine on a temporary data folder, filled with <c>user{i}@example.com</c> profiles of 20
/// traits (every third an integer, the rest strings), for benchmarks that need stored profiles.
/// </summary>
public sealed class BenchmarkStore : IDisposable
{
    readonly string dataDir = Path.Combine(Path.GetTempPath(), "cdp-bench-" + Guid.NewGuid().ToString("N"));

    /// <summary>Opens the engine and writes <paramref name="profiles"/> profiles, each consenting to <paramref name="consentTo"/> when given.</summary>
    public BenchmarkStore(int profiles, long memoryBytes, Action<CdpOptions>? configure = null, string? consentTo = null)
    {
        var options = new CdpOptions { DataDir = dataDir };
        configure?.Invoke(options);
        options.Store.IndexBytes = 1 << 20;
        options.Store.MemoryBytes = memoryBytes;
        options.Store.CheckpointIntervalSeconds = 0;
        Engine = ProfileEngine.Open(options, TimeProvider.System, NullLogger.Instance);
        using var writer = Engine.NewSession();
        var command = new WriteCommand();
        for (int i = 0; i < profiles; i++)
        {
            command.Reset();
            command.Kind = WriteKind.Identify;
            command.AddIdentifier("email", Email(i), "identifiers.email");
            for (int t = 0; t < 20; t++)
                command.AddTrait($"trait{t}", t % 3 == 0 ? TraitValue.Int(i * t) : TraitValue.String($"value-{t}-{i}"), "traits");
            if (consentTo is not null)
                command.Consents.Add((consentTo, true, "consent"));
            writer.Write(command);
        }
    }

    /// <summary>The engine.</summary>
    public ProfileEngine Engine { get; }

    /// <summary>The e-mail of profile <paramref name="i"/>.</summary>
    public static string Email(int i) => $"user{i}@example.com";

    /// <summary>Closes the engine and deletes the folder.</summary>
    public void Dispose()
    {
        Engine.DisposeAsync().AsTask().GetAwaiter().GetResult();
        Directory.Delete(dataDir, recursive: true);
    }
}
