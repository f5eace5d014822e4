using System.Diagnostics;
using System.Globalization;
using System.Text;
using Cdp.Server.Engine;
using Microsoft.AspNetCore.Http;

namespace Cdp.Server.Http;

/// <summary>
/// <c>GET /metrics</c> in the Prometheus text format: the store's log addresses and memory, the
/// journal's position, and process memory, so operators (and the memory benchmark) can see where
/// the bytes are. Written by hand: no Prometheus exporter package restores here.
/// </summary>
public static class MetricsEndpoint
{
    /// <summary>Renders the current figures.</summary>
    public static IResult Render(ProfileEngine engine)
    {
        var text = new StringBuilder(2048);
        var store = engine.Store;
        var log = store.Kv.Log;
        Gauge(text, "cdp_store_log_begin_address", "Lowest address still in the FASTER log.", log.BeginAddress);
        Gauge(text, "cdp_store_log_head_address", "Lowest address still in memory; below it records live only on disk.", log.HeadAddress);
        Gauge(text, "cdp_store_log_readonly_address", "Records below this address are copied, not updated in place.", log.ReadOnlyAddress);
        Gauge(text, "cdp_store_log_tail_address", "Next address the log will allocate.", log.TailAddress);
        Gauge(text, "cdp_store_log_bytes", "Bytes of log in use (tail - begin): every record, live or superseded.", log.TailAddress - log.BeginAddress);
        Gauge(text, "cdp_store_log_memory_bytes", "Bytes of log pages allocated in memory.", log.MemorySizeBytes);
        Gauge(text, "cdp_store_index_bytes", "Configured size of the hash index.", engine.Options.Store.IndexBytes);
        Gauge(text, "cdp_store_index_overflow_buckets", "Overflow buckets of the hash index (grow when it is too small).", store.Kv.OverflowBucketCount);
        Gauge(text, "cdp_store_generation", "Compactions the store has been through (its folders are store.N, checkpoints.N).", store.Generation);
        Gauge(text, "cdp_erasures_pending_compaction", "Erasures whose records may still be in the store's files, until the next compaction.", engine.ErasuresSinceCompaction);
        Gauge(text, "cdp_profiles_created", "Profiles created since the data folder was new (master ids handed out).", (long)engine.LastMasterId);
        Gauge(text, "cdp_schema_names", "Distinct trait and event names interned.", engine.Schema.Count);
        Gauge(text, "cdp_journal_tail_address", "Next journal address.", engine.Journal.TailAddress);
        Gauge(text, "cdp_journal_committed_address", "Journal durable below this address.", engine.Journal.CommittedUntilAddress);
        Gauge(text, "cdp_journal_failed", "1 when the journal has failed and writes are refused.", engine.Journal.Failure is null ? 0 : 1);
        using var process = Process.GetCurrentProcess();
        Gauge(text, "cdp_process_resident_bytes", "Resident set size of the server process.", process.WorkingSet64);
        Gauge(text, "cdp_gc_heap_bytes", "Managed heap size after the last GC.", GC.GetGCMemoryInfo().HeapSizeBytes);
        return Results.Text(text.ToString(), "text/plain; version=0.0.4; charset=utf-8");
    }

    static void Gauge(StringBuilder text, string name, string help, long value)
    {
        text.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n');
        text.Append("# TYPE ").Append(name).Append(" gauge\n");
        text.Append(name).Append(' ').Append(value.ToString(CultureInfo.InvariantCulture)).Append('\n');
    }
}
