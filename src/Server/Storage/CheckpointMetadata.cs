using System.Text.Json;

namespace Cdp.Server.Storage;

/// <summary>
/// What a completed checkpoint covers, written next to FASTER's own checkpoint files once both the
/// store snapshot and the journal up to <see cref="JournalAddress"/> are durable. Recovery restores
/// exactly these tokens (an index checkpoint and a later log checkpoint, the same token when the
/// checkpoint was a full one) and replays the journal from <see cref="JournalAddress"/>; a checkpoint
/// without this file was never finished and is ignored.
/// </summary>
public sealed record CheckpointMetadata(Guid IndexToken, Guid LogToken, long JournalAddress, ulong NextMasterId, ulong NextSeq,
    int LogCheckpointsSinceIndex, DateTimeOffset TakenAt)
{
    /// <summary>File name inside the checkpoint folder.</summary>
    public const string FileName = "cdp-checkpoint.json";

    /// <summary>Reads the metadata, or null when no checkpoint was ever completed. Unreadable metadata is an error.</summary>
    public static CheckpointMetadata? Load(string directory)
    {
        var path = Path.Combine(directory, FileName);
        if (!File.Exists(path))
            return null;
        try
        {
            return JsonSerializer.Deserialize<CheckpointMetadata>(File.ReadAllBytes(path))
                   ?? throw new InvalidDataException("empty document");
        }
        catch (Exception e) when (e is JsonException or InvalidDataException)
        {
            throw new InvalidDataException($"Checkpoint metadata {path} is unreadable ({e.Message}); refusing to start with a possibly empty store.", e);
        }
    }

    /// <summary>Writes the metadata atomically: a temporary file flushed to disk, then renamed over the old one.</summary>
    public void Save(string directory)
    {
        var path = Path.Combine(directory, FileName);
        var temp = path + ".tmp";
        using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            file.Write(JsonSerializer.SerializeToUtf8Bytes(this));
            file.Flush(flushToDisk: true);
        }
        File.Move(temp, path, overwrite: true);
        DirectorySync.Flush(directory);
    }
}
