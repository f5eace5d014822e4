using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Cdp.Server.Engine;
using Cdp.Server.Hosting;
using Cdp.Server.Http;
using Microsoft.Extensions.Logging.Abstractions;

namespace Cdp.Bench;

/// <summary>Temporary: times the stages of importing track rows in one thread.</summary>
public static class ImportTiming
{
    public static void Run(int n)
    {
        var dataDir = Path.Combine(Path.GetTempPath(), "cdp-timing-" + Guid.NewGuid().ToString("N"));
        var options = new CdpOptions { DataDir = dataDir };
        options.Store.CheckpointIntervalSeconds = 0;
        var engine = ProfileEngine.Open(options, TimeProvider.System, NullLogger.Instance);
        var rows = new byte[n][];
        var random = new Random(1);
        for (int i = 0; i < n; i++)
            rows[i] = Encoding.UTF8.GetBytes("{\"type\":\"track\",\"event\":\"Order Completed\",\"userId\":\"u" + random.Next(n / 10) + "\",\"properties\":{\"revenue\":" + random.Next(500) + ",\"sku\":\"sku-" + random.Next(50) + "\"},\"timestamp\":\"2026-11-0" + (1 + i % 9) + "T10:00:00Z\",\"messageId\":\"m-" + i + "\"}");
        var command = new WriteCommand();
        using var session = engine.NewSession();
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < n; i++)
        {
            using var d = JsonDocument.Parse(rows[i], SegmentSpecReader.DocumentOptions);
            SegmentSpecReader.Read(d.RootElement, "track", command);
        }
        Console.WriteLine($"parse: {sw.Elapsed.TotalMicroseconds / n:F2} us/row");
        long gc0 = GC.CollectionCount(0);
        sw.Restart();
        long last = 0;
        for (int i = 0; i < n; i++)
        {
            using (var d = JsonDocument.Parse(rows[i], SegmentSpecReader.DocumentOptions))
                SegmentSpecReader.Read(d.RootElement, "track", command);
            last = session.Write(command).JournalAddress;
        }
        Console.WriteLine($"parse+write: {sw.Elapsed.TotalMicroseconds / n:F2} us/row, gen0 GCs {GC.CollectionCount(0) - gc0}");
        sw.Restart();
        for (int i = 0; i < n; i++)
        {
            using (var d = JsonDocument.Parse(rows[i], SegmentSpecReader.DocumentOptions))
                SegmentSpecReader.Read(d.RootElement, "track", command);
            command.MessageId = null;
            last = session.Write(command).JournalAddress;
        }
        Console.WriteLine($"parse+write, no messageId, profiles exist: {sw.Elapsed.TotalMicroseconds / n:F2} us/row");
        sw.Restart();
        for (int i = 0; i < n; i++)
        {
            using (var d = JsonDocument.Parse(rows[i], SegmentSpecReader.DocumentOptions))
                SegmentSpecReader.Read(d.RootElement, "track", command);
            command.MessageId = "x-" + i;
            last = session.Write(command).JournalAddress;
        }
        Console.WriteLine($"parse+write, new messageIds, profiles exist: {sw.Elapsed.TotalMicroseconds / n:F2} us/row");
        sw.Restart();
        var timings = new double[4];
        for (int i = 0; i < n; i++)
        {
            using (var d = JsonDocument.Parse(rows[i], SegmentSpecReader.DocumentOptions))
                SegmentSpecReader.Read(d.RootElement, "track", command);
            command.MessageId = "x-" + i;
            last = session.Write(command).JournalAddress;
        }
        Console.WriteLine($"parse+write, duplicate messageIds: {sw.Elapsed.TotalMicroseconds / n:F2} us/row");
        var fresh = new byte[n][];
        for (int i = 0; i < n; i++)
            fresh[i] = Encoding.UTF8.GetBytes("{\"type\":\"track\",\"event\":\"Order Completed\",\"userId\":\"new" + i + "\",\"properties\":{\"revenue\":5,\"sku\":\"s\"},\"timestamp\":\"2026-11-01T10:00:00Z\"}");
        sw.Restart();
        for (int i = 0; i < n; i++)
        {
            using (var d = JsonDocument.Parse(fresh[i], SegmentSpecReader.DocumentOptions))
                SegmentSpecReader.Read(d.RootElement, "track", command);
            last = session.Write(command).JournalAddress;
        }
        Console.WriteLine($"warm, every row a new profile: {sw.Elapsed.TotalMicroseconds / n:F2} us/row");
        sw.Restart();
        for (int i = 0; i < n; i++)
        {
            using (var d = JsonDocument.Parse(fresh[i], SegmentSpecReader.DocumentOptions))
                SegmentSpecReader.Read(d.RootElement, "track", command);
            last = session.Write(command).JournalAddress;
        }
        Console.WriteLine($"warm, second event of each (record grows: copy-update): {sw.Elapsed.TotalMicroseconds / n:F2} us/row");
        engine.DisposeAsync().AsTask().GetAwaiter().GetResult();
        Directory.Delete(dataDir, true);
    }
}
