using System.Collections.Concurrent;

namespace Cdp.LoadTests;

/// <summary>Counts failures by type and message and keeps the first few, so a failing run says why without flooding the console.</summary>
internal sealed class ErrorLog
{
    private readonly ConcurrentDictionary<string, long> byKind = new();

    public void Add(Exception exception)
    {
        string message = exception.Message.Length > 160 ? exception.Message[..160] + "..." : exception.Message;
        // Request ids make every message unique; drop digits so identical failures group together.
        string kind = exception.GetType().Name + ": " + new string(message.Select(ch => char.IsAsciiDigit(ch) ? '#' : ch).ToArray());
        byKind.AddOrUpdate(kind, 1, static (_, n) => n + 1);
    }

    public IReadOnlyList<KeyValuePair<string, long>> Top(int count)
        => byKind.OrderByDescending(e => e.Value).Take(count).ToArray();
}
