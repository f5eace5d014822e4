using System.Net.Http.Json;
using System.Text.Json;
using Cdp.Server.Hosting;
using Cdp.Server.Matching;
using Microsoft.Extensions.Logging;

namespace Cdp.MatchEval;

/// <summary>
/// The real server: a Cdp server started in this process on a temporary data folder and free ports,
/// configured with the same matching options, fed over HTTP. Each record is an identify with the
/// record id as its anonymous id (so it can be found again, and never links anything by itself)
/// and the person's fields as traits; the server's own write path decides every merge.
/// </summary>
public sealed class ServerMatchTarget : IMatchTarget
{
    readonly CdpServer server;
    readonly HttpClient http;
    readonly string dataDir;
    readonly bool autoMerge;

    ServerMatchTarget(CdpServer server, string dataDir, bool autoMerge)
    {
        this.server = server;
        this.dataDir = dataDir;
        this.autoMerge = autoMerge;
        http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{server.HttpPort}") };
    }

    /// <summary>Starts a server with <paramref name="options"/> as its <c>Cdp:Matching</c> section.</summary>
    public static ServerMatchTarget Start(MatchingOptions options, bool autoMerge)
    {
        var dataDir = Path.Combine(Path.GetTempPath(), "cdp-matcheval-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dataDir);
        var config = Path.Combine(dataDir, "matching.json");
        options.Enabled = true;
        options.AutoMerge = autoMerge;
        File.WriteAllText(config, JsonSerializer.Serialize(new { Cdp = new { Matching = options } }));
        var server = CdpServer.StartAsync(
            ["--data-dir", Path.Combine(dataDir, "data"), "--http-port", "0", "--binary-port", "0", "--config", config],
            logging => logging.ClearProviders().SetMinimumLevel(LogLevel.Warning)).GetAwaiter().GetResult();
        return new ServerMatchTarget(server, dataDir, autoMerge);
    }

    /// <inheritdoc />
    public string Name => "server";

    /// <inheritdoc />
    public IdentifyOutcome Identify(string recordId, IReadOnlyList<KeyValuePair<string, string>> traits)
    {
        var body = new Dictionary<string, object>
        {
            ["anonymousId"] = recordId,
            ["traits"] = traits.ToDictionary(t => t.Key, t => t.Value),
        };
        using var response = http.PostAsJsonAsync("/v1/identify", body).GetAwaiter().GetResult();
        var text = response.Content.ReadAsStringAsync().GetAwaiter().GetResult();
        if (!response.IsSuccessStatusCode)
            throw new InvalidOperationException($"identify of {recordId} failed: {(int)response.StatusCode} {text}");
        ulong id = ulong.Parse(JsonDocument.Parse(text).RootElement.GetProperty("id").GetString()!, System.Globalization.CultureInfo.InvariantCulture);
        if (autoMerge)
            return new IdentifyOutcome(id, null, 0, 0);
        // Listing mode: the best earlier candidate, as GET .../matches reports it right after the write.
        var matches = JsonDocument.Parse(http.GetStringAsync($"/v1/profiles/anonymous_id/{Uri.EscapeDataString(recordId)}/matches?limit=1").GetAwaiter().GetResult()).RootElement;
        var candidates = matches.GetProperty("candidates");
        if (candidates.GetArrayLength() == 0)
            return new IdentifyOutcome(id, null, 0, 0);
        var top = candidates[0];
        return new IdentifyOutcome(id, ulong.Parse(top.GetProperty("id").GetString()!, System.Globalization.CultureInfo.InvariantCulture), top.GetProperty("score").GetDouble(), 0);
    }

    /// <inheritdoc />
    public ulong ProfileOf(string recordId)
    {
        var profile = JsonDocument.Parse(http.GetStringAsync($"/v1/profiles/anonymous_id/{Uri.EscapeDataString(recordId)}").GetAwaiter().GetResult()).RootElement;
        return ulong.Parse(profile.GetProperty("id").GetString()!, System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        http.Dispose();
        server.DisposeAsync().AsTask().GetAwaiter().GetResult();
        try
        {
            Directory.Delete(dataDir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
