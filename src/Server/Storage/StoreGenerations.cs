using System.Text;

namespace Cdp.Server.Storage;

/// <summary>
/// Which generation of the store's folders is current, named by the <c>STORE</c> file in the data
/// folder. A compaction writes the live records into fresh folders of the next generation and
/// switches by replacing this file (the commit point), so a crash leaves either the old store or the
/// new one whole; folders of any other generation are left-overs and are deleted at start.
/// </summary>
/// <remarks>
/// Generation 0 is the layout before any compaction (<c>store/</c>, <c>checkpoints/</c>), so a data
/// folder from before compaction existed opens unchanged.
/// A second line, <c>compact-profile-keys</c>, says the generation keeps profiles under 4-byte keys
/// (<see cref="StoreKeys.CompactProfile"/>). It is here rather than in the checkpoint metadata because
/// versions before it refuse a <c>STORE</c> file with more than one line: one of them opening such a
/// store would find none of its profiles and start new ones beside them.
/// </remarks>
public static class StoreGenerations
{
    const string FileName = "STORE";
    const string CompactProfileKeysLine = "compact-profile-keys";

    /// <summary>The FASTER log folder of a generation.</summary>
    public static string StoreFolder(int generation) => generation == 0 ? "store" : $"store.{generation}";

    /// <summary>The checkpoint folder of a generation.</summary>
    public static string CheckpointFolder(int generation) => generation == 0 ? "checkpoints" : $"checkpoints.{generation}";

    /// <summary>The current generation (0 when the file is absent) and whether it keeps compact profile keys (false when absent).</summary>
    public static (int Generation, bool CompactProfileKeys) Read(string dataDir)
    {
        var path = Path.Combine(dataDir, FileName);
        if (!File.Exists(path))
            return (0, false);
        var text = File.ReadAllText(path, Encoding.UTF8).Trim();
        var lines = text.Split('\n', StringSplitOptions.TrimEntries);
        const string prefix = "generation ";
        if (!lines[0].StartsWith(prefix, StringComparison.Ordinal) || !int.TryParse(lines[0].AsSpan(prefix.Length), out int generation) || generation < 0
            || lines.Length > 2 || (lines.Length == 2 && lines[1] != CompactProfileKeysLine))
            throw new InvalidDataException($"{path} should read 'generation N', optionally followed by a line '{CompactProfileKeysLine}', not '{text}'. Refusing to start: it names the store folders to open.");
        return (generation, lines.Length == 2);
    }

    /// <summary>Makes <paramref name="generation"/> current, durably (write aside, flush, rename, flush the folder).</summary>
    public static void Write(string dataDir, int generation, bool compactProfileKeys)
    {
        var path = Path.Combine(dataDir, FileName);
        var temp = path + ".tmp";
        using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            file.Write(Encoding.UTF8.GetBytes(compactProfileKeys ? $"generation {generation}\n{CompactProfileKeysLine}\n" : $"generation {generation}\n"));
            file.Flush(flushToDisk: true);
        }
        File.Move(temp, path, overwrite: true);
        DirectorySync.Flush(dataDir);
    }

    /// <summary>Deletes the store and checkpoint folders of every generation but <paramref name="keep"/>.</summary>
    public static void DeleteOthers(string dataDir, int keep)
    {
        foreach (var dir in Directory.EnumerateDirectories(dataDir))
        {
            var name = Path.GetFileName(dir);
            int? generation = name switch
            {
                "store" or "checkpoints" => 0,
                _ when name.StartsWith("store.", StringComparison.Ordinal) && int.TryParse(name.AsSpan(6), out int g) => g,
                _ when name.StartsWith("checkpoints.", StringComparison.Ordinal) && int.TryParse(name.AsSpan(12), out int g) => g,
                _ => null,
            };
            if (generation is { } found && found != keep)
                Directory.Delete(dir, recursive: true);
        }
        File.Delete(Path.Combine(dataDir, FileName + ".tmp"));
    }
}
