using Cdp.Server.Engine;
using Cdp.Server.Hosting;

namespace Cdp.Tests.Infrastructure;

/// <summary>What the engine-level stored-format tests share: a small store and a track write.</summary>
static class EngineFixture
{
    /// <summary>Options for an engine on <paramref name="dir"/> with a small store and no timed checkpoints.</summary>
    public static CdpOptions SmallStore(string dir)
    {
        var options = new CdpOptions { DataDir = dir };
        options.Store.IndexBytes = 1 << 16;
        options.Store.MemoryBytes = 1 << 22;
        options.Store.PageBytes = 1 << 18;
        options.Store.CheckpointIntervalSeconds = 0;
        return options;
    }

    /// <summary>An "Order Completed" track naming the e-mail and, when given, a second identifier.</summary>
    public static WriteResult Track(EngineSession session, WriteCommand command, string email, (string Type, string Value)? other = null)
    {
        command.Reset();
        command.Kind = WriteKind.Track;
        command.Event = "Order Completed";
        command.AddIdentifier("email", email, "email");
        if (other is { } o)
            command.AddIdentifier(o.Type, o.Value, o.Type);
        return session.Write(command);
    }
}
