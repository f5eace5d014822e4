using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Cdp.Server.Engine;
using Cdp.Server.Hosting;
using Cdp.Server.Http;
using Microsoft.Extensions.Logging.Abstractions;

namespace Cdp.Bench;

/// <summary>
/// <c>dotnet run -c Release --project bench -- import-timing N</c>: the stages of importing N NDJSON track
/// rows on one thread, in passes over the same engine, so that the first (cold: tier-0 code, new
/// profiles) and later (warm) passes can be told apart. Wall time per row; the commit wait is not included.
/// </summary>
public static class ImportTiming
{
    public static void Run(int n)
    {
        var dataDir = Path.Combine(Path.GetTempPath(), "cdp-timing-" + Guid.NewGuid().ToString("N"));
        var options = new CdpOptions { DataDir = dataDir };
        options.Store.CheckpointIntervalSeconds = 0;
        var engine = ProfileEngine.Open(options, TimeProvider.System, NullLogger.Instance);
        try
        {
            var random = new Random(1);
            var rows = new byte[n][];
            for (int i = 0; i < n; i++)
                rows[i] = Row("u" + random.Next(n / 10), random.Next(500), 1 + i % 9);
            var fresh = new byte[n][];
            for (int i = 0; i < n; i++)
                fresh[i] = Row("new" + i, 5, 1);
            var command = new WriteCommand();
            using var session = engine.NewSession();

            Pass("parse only (cold)", rows, command, null, null);
            Pass("parse + write, messageId per row (cold, new profiles)", rows, command, i => "m-" + i, session);
            Pass("parse + write, no messageId (warm, profiles exist)", rows, command, null, session);
            Pass("parse + write, new messageIds (warm)", rows, command, i => "x-" + i, session);
            Pass("parse + write, duplicate messageIds (warm)", rows, command, i => "x-" + i, session);
            Pass("parse + write, every row a new profile (warm)", fresh, command, null, session);
            Pass("parse + write, second event of each (record grows: copy-update)", fresh, command, null, session);
        }
        finally
        {
            engine.DisposeAsync().AsTask().GetAwaiter().GetResult();
            Directory.Delete(dataDir, true);
        }
    }

    static byte[] Row(string user, int revenue, int day) => Encoding.UTF8.GetBytes(
        "{\"type\":\"track\",\"event\":\"Order Completed\",\"userId\":\"" + user + "\",\"properties\":{\"revenue\":" + revenue
        + ",\"sku\":\"sku-" + revenue % 50 + "\"},\"timestamp\":\"2026-11-0" + day + "T10:00:00Z\"}");

    static void Pass(string label, byte[][] rows, WriteCommand command, Func<int, string>? messageId, EngineSession? session)
    {
        long gc0 = GC.CollectionCount(0);
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < rows.Length; i++)
        {
            using (var d = JsonDocument.Parse(rows[i], SegmentSpecReader.DocumentOptions))
                SegmentSpecReader.Read(d.RootElement, "track", command);
            command.MessageId = messageId?.Invoke(i);
            session?.Write(command);
        }
        Console.WriteLine($"{label}: {sw.Elapsed.TotalMicroseconds / rows.Length:F2} us/row, gen0 GCs {GC.CollectionCount(0) - gc0}");
    }
}
