using System.Globalization;

namespace Cdp.LoadTests;

/// <summary>Where JSON results go: <c>loadtests/results</c> of the repository the harness was built in (git-ignored).</summary>
internal static class ResultsFolder
{
    public static string Default()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Cdp.sln")))
                return Path.Combine(dir.FullName, "loadtests", "results");
        }
        return Path.Combine(Environment.CurrentDirectory, "results");
    }

    /// <summary>A new file path named after the UTC start time; never overwrites an earlier result.</summary>
    public static string NewFilePath(string folder, DateTimeOffset startedAt)
    {
        Directory.CreateDirectory(folder);
        string stamp = startedAt.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
        string path = Path.Combine(folder, stamp + ".json");
        for (int n = 2; File.Exists(path); n++)
            path = Path.Combine(folder, $"{stamp}-{n}.json");
        return path;
    }
}
