using System.Globalization;

namespace Cdp.LoadTests.Compare;

/// <summary>
/// Reads the CPU time of the process listening on a local TCP port (Linux /proc). With the harness and the servers
/// sharing a small machine, a server's CPU per operation is the figure the harness's own load distorts least.
/// </summary>
internal sealed class ProcessCpuProbe
{
    // /proc/[pid]/stat counts in clock ticks; USER_HZ is 100 on every Linux architecture .NET runs on.
    private const double TicksPerSecond = 100;

    private readonly string statPath;

    private ProcessCpuProbe(int pid)
    {
        Pid = pid;
        statPath = $"/proc/{pid}/stat";
    }

    public int Pid { get; }

    /// <summary>The probe for whoever listens on <paramref name="port"/>, or null when that cannot be found out (not Linux, another user's process, a remote host).</summary>
    public static ProcessCpuProbe? ForListeningPort(int port)
    {
        try
        {
            if (!OperatingSystem.IsLinux())
                return null;
            var inodes = new HashSet<string>();
            foreach (string table in new[] { "/proc/net/tcp", "/proc/net/tcp6" })
            {
                if (!File.Exists(table))
                    continue;
                foreach (string line in File.ReadLines(table).Skip(1))
                {
                    // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...
                    string[] columns = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    if (columns.Length < 10 || columns[3] != "0A") // 0A = LISTEN
                        continue;
                    string localPort = columns[1][(columns[1].LastIndexOf(':') + 1)..];
                    if (int.Parse(localPort, NumberStyles.HexNumber, CultureInfo.InvariantCulture) == port)
                        inodes.Add($"socket:[{columns[9]}]");
                }
            }
            if (inodes.Count == 0)
                return null;
            foreach (string process in Directory.EnumerateDirectories("/proc"))
            {
                if (!int.TryParse(Path.GetFileName(process), out int pid))
                    continue;
                try
                {
                    foreach (string fd in Directory.EnumerateFileSystemEntries(Path.Combine(process, "fd")))
                    {
                        if (new FileInfo(fd).LinkTarget is { } target && inodes.Contains(target))
                            return new ProcessCpuProbe(pid);
                    }
                }
                catch (Exception e) when (e is UnauthorizedAccessException or IOException)
                {
                    // A process that ended meanwhile, or one we may not look into.
                }
            }
            return null;
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException or FormatException)
        {
            return null;
        }
    }

    /// <summary>User plus system CPU time so far, or null when the process is gone.</summary>
    public TimeSpan? CpuTime()
    {
        try
        {
            string stat = File.ReadAllText(statPath);
            // The command name (field 2) is in parentheses and may contain spaces; fields are counted after it.
            string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            long user = long.Parse(fields[11], CultureInfo.InvariantCulture);   // field 14, utime
            long system = long.Parse(fields[12], CultureInfo.InvariantCulture); // field 15, stime
            return TimeSpan.FromSeconds((user + system) / TicksPerSecond);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return null;
        }
    }
}
