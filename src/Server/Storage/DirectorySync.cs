using System.Runtime.InteropServices;

namespace Cdp.Server.Storage;

/// <summary>
/// Makes a rename durable. On Linux a file renamed into place survives a power cut only once its
/// directory has been flushed; .NET has no API for that, so this calls fsync on the directory.
/// </summary>
static partial class DirectorySync
{
    // O_RDONLY: Linux opens a directory read-only without O_DIRECTORY (whose value differs by architecture).
    const int ReadOnly = 0;

    /// <summary>Flushes <paramref name="path"/>'s entries to disk; a no-op where not supported.</summary>
    public static void Flush(string path)
    {
        if (!OperatingSystem.IsLinux())
            return;
        int fd = Open(path, ReadOnly);
        if (fd < 0)
            throw new IOException($"cannot open {path} to flush it (errno {Marshal.GetLastPInvokeError()})");
        try
        {
            if (FSync(fd) != 0)
                throw new IOException($"cannot flush {path} (errno {Marshal.GetLastPInvokeError()})");
        }
        finally
        {
            Close(fd);
        }
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int FSync(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}
