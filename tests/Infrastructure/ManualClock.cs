namespace Cdp.Tests.Infrastructure;

/// <summary>
/// A clock the test sets: the engine's receive times and read-time evaluation follow it. Timers and
/// timestamps for elapsed time stay real (checkpoint timers are not what these tests control).
/// </summary>
public sealed class ManualClock(DateTimeOffset start) : TimeProvider
{
    long now = start.ToUnixTimeMilliseconds();

    /// <inheritdoc />
    public override DateTimeOffset GetUtcNow() => DateTimeOffset.FromUnixTimeMilliseconds(Interlocked.Read(ref now));

    /// <summary>Sets the time.</summary>
    public void Set(DateTimeOffset value) => Interlocked.Exchange(ref now, value.ToUnixTimeMilliseconds());

    /// <summary>Moves the time.</summary>
    public void Advance(TimeSpan by) => Interlocked.Add(ref now, (long)by.TotalMilliseconds);
}
