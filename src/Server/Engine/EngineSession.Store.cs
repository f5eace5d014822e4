using Cdp.Server.Storage;

namespace Cdp.Server.Engine;

// The gate around every FASTER call, so that a compaction can swap the store under live sessions.
public sealed unsafe partial class EngineSession
{
    // 1 while this session is inside a FASTER call; a compaction waits for 0 on every session, and no
    // session enters while it runs. A write's several calls need no more than this: the compaction
    // also holds every stripe, so no write is half done when the store is copied.
    int inStore;

    /// <summary>True while the session is inside a store call.</summary>
    internal bool InStore => Volatile.Read(ref inStore) != 0;

    void EnterStore()
    {
        while (true)
        {
            // A full fence: the flag is visible before the pause is read (the compaction does the reverse).
            Interlocked.Exchange(ref inStore, 1);
            if (!engine.StorePaused)
                return;
            Volatile.Write(ref inStore, 0);
            engine.WaitForStore();
        }
    }

    void ExitStore() => Volatile.Write(ref inStore, 0);

    /// <summary>Moves the session to <paramref name="store"/> (called by the compaction while the session is outside the store).</summary>
    internal void SwitchStore(ProfileStore store)
    {
        session.Dispose();
        session = store.NewSession();
        Interlocked.Increment(ref storeSwitches);
    }

    int storeSwitches;

    /// <summary>How many times a compaction moved this session to a new store (see <see cref="WriteProfileKey"/>).</summary>
    int StoreSwitches => Volatile.Read(ref storeSwitches);
}
