namespace Cdp.Server.Hosting;

/// <summary>
/// Every setting of the server, bound from configuration (appsettings.json, environment variables
/// <c>Cdp__Section__Key</c>, the <c>--config</c> file and command-line options, in that order).
/// Defaults are the embedded defaults the README documents.
/// </summary>
public sealed class CdpOptions
{
    /// <summary>Folder for the store, checkpoints, journal and schema; created if missing.</summary>
    public string DataDir { get; set; } = "data";

    /// <summary>Address both listeners bind to.</summary>
    public string BindAddress { get; set; } = "127.0.0.1";

    /// <summary>HTTP port (0 = any free port, logged at start).</summary>
    public int HttpPort { get; set; } = 8080;

    /// <summary>Binary protocol port (0 = any free port, logged at start).</summary>
    public int BinaryPort { get; set; } = 7070;

    /// <summary>
    /// What serves the binary port: <c>socket</c> (<see cref="Cdp.Server.Binary.SocketBinaryListener"/>,
    /// a lean socket loop) or <c>kestrel</c> (<see cref="Cdp.Server.Binary.BinaryConnectionHandler"/>
    /// on a Kestrel listener). Both host the same <see cref="Cdp.Server.Binary.BinarySession"/>.
    /// </summary>
    public string BinaryTransport { get; set; } = "socket";

    /// <summary>Largest binary frame body accepted, in bytes.</summary>
    public int MaxFrameBodyBytes { get; set; } = Cdp.Protocol.ProtocolLimits.DefaultMaxBodyLength;

    /// <summary>FASTER store sizing.</summary>
    public StoreOptions Store { get; set; } = new();

    /// <summary>Journal (write-ahead log) settings.</summary>
    public JournalOptions Journal { get; set; } = new();

    /// <summary>Identity settings.</summary>
    public IdentityOptions Identity { get; set; } = new();

    /// <summary>Declared trait types.</summary>
    public TraitsOptions Traits { get; set; } = new();

    /// <summary>Computed traits by name (aggregates of events, optionally over sliding windows).</summary>
    public Dictionary<string, ComputedTraitOptions> ComputedTraits { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Values derived at read time by name (days since a timestamp).</summary>
    public Dictionary<string, DerivedTraitOptions> DerivedTraits { get; set; } = new(StringComparer.Ordinal);

    /// <summary>TLS for both listeners (docs/consent.md).</summary>
    public TlsOptions Tls { get; set; } = new();

    /// <summary>API keys by name: hash, scopes, purposes, rate limit (docs/consent.md). None: every request is allowed and the server binds to loopback only.</summary>
    public Dictionary<string, Cdp.Server.Access.ApiKeyOptions> ApiKeys { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Processing purposes by name: legal basis and the fields each may see (docs/consent.md).</summary>
    public Dictionary<string, Cdp.Server.Consent.PurposeOptions> Purposes { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Segments defined at start-up: name → rule (docs/segments.md). Runtime definitions live in the data folder.</summary>
    public Dictionary<string, string> Segments { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Fuzzy and probabilistic matching (docs/identity.md).</summary>
    public Cdp.Server.Matching.MatchingOptions Matching { get; set; } = new();

    /// <summary>Checks every value and throws with the setting's name and the rule it breaks.</summary>
    public void Validate()
    {
        static void Check(bool ok, string message)
        {
            if (!ok)
                throw new InvalidOperationException("Configuration error: " + message);
        }
        Check(!string.IsNullOrWhiteSpace(DataDir), "DataDir must not be empty.");
        Check(HttpPort is >= 0 and <= 65535, $"HttpPort must be 0-65535, not {HttpPort}.");
        Check(BinaryPort is >= 0 and <= 65535, $"BinaryPort must be 0-65535, not {BinaryPort}.");
        Check(System.Net.IPAddress.TryParse(BindAddress, out _), $"BindAddress '{BindAddress}' is not an IP address.");
        Check(BinaryTransport is "socket" or "kestrel", $"BinaryTransport must be 'socket' or 'kestrel', not '{BinaryTransport}'.");
        Check(MaxFrameBodyBytes is >= 1024 and <= 64 << 20, $"MaxFrameBodyBytes must be 1 KiB-64 MiB, not {MaxFrameBodyBytes}.");
        Store.Validate(Check);
        Journal.Validate(Check);
        Check(Journal.PageBytes >= 2L * MaxFrameBodyBytes,
            $"Journal:PageBytes ({Journal.PageBytes}) must be at least twice MaxFrameBodyBytes ({MaxFrameBodyBytes}) so that every accepted write fits in the journal.");
    }
}

/// <summary>
/// TLS: with a certificate, HTTP is served as HTTPS and the binary protocol over TLS (on a Kestrel
/// listener, whatever <see cref="CdpOptions.BinaryTransport"/> says: the lean socket loop speaks plain TCP only).
/// </summary>
public sealed class TlsOptions
{
    /// <summary>A PKCS#12 (.pfx) file holding the certificate and its private key; empty for no TLS.</summary>
    public string CertificatePath { get; set; } = "";

    /// <summary>The file's password, if any.</summary>
    public string? CertificatePassword { get; set; }

    /// <summary>Whether TLS is configured.</summary>
    public bool Enabled => CertificatePath.Length > 0;
}

/// <summary>Sizes of the FASTER key-value store. All sizes in bytes and powers of two where noted.</summary>
public sealed class StoreOptions
{
    /// <summary>Hash index size (power of two; about 16 bytes per key). Default 64 MiB, ~4 M keys.</summary>
    public long IndexBytes { get; set; } = 1L << 26;
    /// <summary>In-memory part of the log (power of two); older records spill to disk. Default 1 GiB.</summary>
    public long MemoryBytes { get; set; } = 1L << 30;
    /// <summary>Log page size (power of two, at least 2 x MaxProfileBytes). Default 4 MiB.</summary>
    public long PageBytes { get; set; } = 1L << 22;
    /// <summary>Log file segment size (power of two). Default 1 GiB.</summary>
    public long SegmentBytes { get; set; } = 1L << 30;
    /// <summary>Share of the in-memory log updated in place.</summary>
    public double MutableFraction { get; set; } = 0.9;
    /// <summary>Largest profile record; writes that would pass it are refused. Default 64 KiB.</summary>
    public int MaxProfileBytes { get; set; } = 64 * 1024;
    /// <summary>Seconds between checkpoints (0 = only on shutdown).</summary>
    public int CheckpointIntervalSeconds { get; set; } = 60;
    /// <summary>
    /// How long after an erasure the store is compacted (rewritten without the erased records, old
    /// files deleted) in place of the next checkpoint; -1: only on <c>POST /v1/admin/compact</c>.
    /// Reads and writes wait while a compaction runs. Default 3600 (an hour).
    /// </summary>
    public int CompactAfterErasureSeconds { get; set; } = 3600;
    /// <summary>Most distinct trait and event names.</summary>
    public int MaxSchemaNames { get; set; } = 65_535;
    /// <summary>
    /// A trait value (string or list item) written by this many distinct profiles is stored once, in
    /// <c>values.log</c>, and records hold its id (1-3 bytes). No value of fewer profiles is ever written
    /// there, so an erasure leaves no trace of one person in it. 0: share nothing new; otherwise 2-255. Default 5.
    /// </summary>
    public int SharedValueMinProfiles { get; set; } = 5;
    /// <summary>Most shared values. Default 65,536.</summary>
    public int MaxSharedValues { get; set; } = 65_536;
    /// <summary>Longest shared value, in UTF-8 bytes; longer ones stay in the records. Default 64.</summary>
    public int MaxSharedValueBytes { get; set; } = 64;

    internal void Validate(Action<bool, string> check)
    {
        static bool Pow2(long v) => v > 0 && (v & (v - 1)) == 0;
        check(Pow2(IndexBytes) && IndexBytes >= 64, $"Store:IndexBytes must be a power of two >= 64, not {IndexBytes}.");
        check(Pow2(PageBytes) && PageBytes >= 512, $"Store:PageBytes must be a power of two >= 512, not {PageBytes}.");
        check(Pow2(MemoryBytes) && MemoryBytes >= 2 * PageBytes, $"Store:MemoryBytes must be a power of two of at least two pages, not {MemoryBytes}.");
        check(Pow2(SegmentBytes) && SegmentBytes >= PageBytes, $"Store:SegmentBytes must be a power of two >= PageBytes, not {SegmentBytes}.");
        check(MutableFraction is > 0 and < 1, $"Store:MutableFraction must be between 0 and 1, not {MutableFraction}.");
        check(MaxProfileBytes >= 1024 && MaxProfileBytes * 2L <= PageBytes, $"Store:MaxProfileBytes must be >= 1024 and at most half of PageBytes, not {MaxProfileBytes}.");
        check(CheckpointIntervalSeconds >= 0, "Store:CheckpointIntervalSeconds must not be negative.");
        check(CompactAfterErasureSeconds >= -1, $"Store:CompactAfterErasureSeconds must be -1 (never by itself) or a number of seconds, not {CompactAfterErasureSeconds}.");
        check(MaxSchemaNames is >= 1 and <= 65_535, "Store:MaxSchemaNames must be 1-65535.");
        check(SharedValueMinProfiles is 0 or (>= 2 and <= 255), $"Store:SharedValueMinProfiles must be 0 (share nothing new) or 2-255, not {SharedValueMinProfiles}: at 1 a value only one profile had would outlive its erasure in values.log.");
        check(MaxSharedValues is >= 1 and <= 1 << 21, $"Store:MaxSharedValues must be 1-2097152, not {MaxSharedValues}.");
        check(MaxSharedValueBytes is >= 2 and <= 1024, $"Store:MaxSharedValueBytes must be 2-1024, not {MaxSharedValueBytes}.");
    }
}

/// <summary>Journal settings.</summary>
public sealed class JournalOptions
{
    /// <summary>Group-commit window: a commit starts at most this long after the first uncommitted write (0 = at once).</summary>
    public int CommitIntervalMs { get; set; } = 2;
    /// <summary>Journal page size (power of two). Default 4 MiB.</summary>
    public long PageBytes { get; set; } = 1L << 22;
    /// <summary>Journal memory (power of two, at least two pages). Default 32 MiB.</summary>
    public long MemoryBytes { get; set; } = 1L << 25;
    /// <summary>Journal file segment size. Default 256 MiB.</summary>
    public long SegmentBytes { get; set; } = 1L << 28;
    /// <summary>
    /// Keep every journal entry after it is checkpointed, as the profiles' history: unmerge rebuilds
    /// profiles from it. When false the journal is truncated behind each checkpoint (less disk) and
    /// unmerge answers <c>history_unavailable</c>.
    /// </summary>
    public bool KeepHistory { get; set; } = true;

    internal void Validate(Action<bool, string> check)
    {
        static bool Pow2(long v) => v > 0 && (v & (v - 1)) == 0;
        check(CommitIntervalMs is >= 0 and <= 1000, $"Journal:CommitIntervalMs must be 0-1000, not {CommitIntervalMs}.");
        check(Pow2(PageBytes) && PageBytes >= 4096, $"Journal:PageBytes must be a power of two >= 4096, not {PageBytes}.");
        check(Pow2(MemoryBytes) && MemoryBytes >= 2 * PageBytes, "Journal:MemoryBytes must be a power of two of at least two pages.");
        check(Pow2(SegmentBytes) && SegmentBytes >= PageBytes, "Journal:SegmentBytes must be a power of two >= PageBytes.");
    }
}

/// <summary>Identity settings.</summary>
public sealed class IdentityOptions
{
    /// <summary>Identifier types beyond the built-in ones (append only: ids follow declaration order).</summary>
    public List<string> Types { get; set; } = [];
    /// <summary>Country code given to phone numbers written without one.</summary>
    public string DefaultCountryCode { get; set; } = "49";

    /// <summary>Most identifiers one profile holds, all types together; a write that would pass it links no more.</summary>
    public int MaxIdentifiersPerProfile { get; set; } = 1000;

    /// <summary>Identifier values ignored for every type (compared case-insensitively after normalisation).</summary>
    public List<string>? Blocklist { get; set; }

    /// <summary>Regular expressions; a value any of them matches in full is ignored for every type.</summary>
    public List<string> BlocklistPatterns { get; set; } = [];

    /// <summary>Rules per identifier type (limit, priority, blocklist); types not named get the defaults.</summary>
    public Dictionary<string, IdentifierRuleOptions> Rules { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>The rules of one identifier type.</summary>
public sealed class IdentifierRuleOptions
{
    /// <summary>Most values of this type one profile holds (1 for user_id and account by default).</summary>
    public int? MaxValues { get; set; }
    /// <summary>1 is the highest; when a write's identifiers cannot all be linked, higher priorities win.</summary>
    public int? Priority { get; set; }
    /// <summary>Values of this type that are ignored, besides the global blocklist.</summary>
    public List<string> Blocklist { get; set; } = [];
    /// <summary>Regular expressions for values of this type that are ignored.</summary>
    public List<string> BlocklistPatterns { get; set; } = [];
}
