namespace Cdp.LoadTests;

/// <summary>The command line as someone would type it again, so every printed or saved result can be reproduced.</summary>
internal static class CommandLineText
{
    public static string Format(IEnumerable<string> args)
        => "dotnet run -c Release --project loadtests -- " + string.Join(' ', args.Select(Quote));

    private static string Quote(string arg)
        => arg.Length > 0 && arg.All(ch => char.IsAsciiLetterOrDigit(ch) || "-_.:/=@,".Contains(ch)) ? arg : "'" + arg.Replace("'", "'\\''") + "'";
}
