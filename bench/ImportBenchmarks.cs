using System.Text;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using Cdp.Server.Engine;
using Cdp.Server.Http;

namespace Cdp.Bench;

/// <summary>
/// The two halves of importing one NDJSON track row: parsing it (JSON document + Segment Spec
/// mapping into a write command) and applying it (resolve, dedupe by messageId, read-modify-write,
/// journal append; no commit wait). Their sum bounds an import's rows per second per core.
/// </summary>
[MemoryDiagnoser]
public class ImportBenchmarks
{
    const int Profiles = 10_000;
    BenchmarkStore store = null!;
    EngineSession session = null!;
    readonly WriteCommand command = new();
    byte[][] rows = [];
    int next;

    [GlobalSetup]
    public void Setup()
    {
        store = new BenchmarkStore(Profiles, 1 << 28);
        session = store.Engine.NewSession();
        rows = new byte[Profiles][];
        for (int i = 0; i < Profiles; i++)
            rows[i] = Encoding.UTF8.GetBytes(
                "{\"type\":\"track\",\"event\":\"Order Completed\",\"userId\":\"u" + i + "\",\"context\":{\"traits\":{\"email\":\"" + BenchmarkStore.Email(i)
                + "\"}},\"properties\":{\"revenue\":" + (i % 500) + ",\"sku\":\"sku-" + (i % 50) + "\"},\"timestamp\":\"2026-11-0" + (1 + i % 9) + "T10:00:00Z\"}");
    }

    /// <summary>JSON row to write command.</summary>
    [Benchmark]
    public int ParseRow()
    {
        using var document = JsonDocument.Parse(rows[next++ % Profiles], SegmentSpecReader.DocumentOptions);
        SegmentSpecReader.Read(document.RootElement, "track", command);
        return command.Properties.Count;
    }

    /// <summary>A parsed track row applied to an existing profile, with a new messageId each time.</summary>
    [Benchmark]
    public ulong ApplyRow()
    {
        int i = next++;
        using (var document = JsonDocument.Parse(rows[i % Profiles], SegmentSpecReader.DocumentOptions))
            SegmentSpecReader.Read(document.RootElement, "track", command);
        command.MessageId = "m-" + i;
        return session.Write(command).MasterId;
    }

    /// <summary>The same without a messageId (no dedupe read or upsert).</summary>
    [Benchmark]
    public ulong ApplyRowWithoutMessageId()
    {
        int i = next++;
        using (var document = JsonDocument.Parse(rows[i % Profiles], SegmentSpecReader.DocumentOptions))
            SegmentSpecReader.Read(document.RootElement, "track", command);
        return session.Write(command).MasterId;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        session.Dispose();
        store.Dispose();
    }
}
