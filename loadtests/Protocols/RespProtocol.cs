using System.Buffers;
using System.Net.Sockets;
using Cdp.LoadTests.Profiles;
using Cdp.LoadTests.Workload;

namespace Cdp.LoadTests.Protocols;

/// <summary>
/// Redis and Garnet over RESP2, a profile being one hash <c>profile:{email}</c>: lookup is <c>HGETALL</c>; track is
/// <c>HSET last_event</c> plus <c>HINCRBY events 1</c>, sent together and counted as one operation, the closest
/// equivalent of Cdp's per-event count and last value.
/// </summary>
internal sealed class RespProtocol(string name) : IWireProtocol
{
    public string Name => name;

    public static string Key(int key) => "profile:" + SampleProfile.Email(key);

    public string Describe(Operation operation) => operation == Operation.Lookup
        ? "HGETALL profile:{email}"
        : $"HSET profile:{{email}} last_event \"{SampleEvent.Name}\" + HINCRBY profile:{{email}} events 1 (one operation, two replies)";

    public void EncodeOperation(Operation operation, int key, IBufferWriter<byte> output)
    {
        if (operation == Operation.Lookup)
        {
            RespCommand.Write(output, "HGETALL", Key(key));
            return;
        }
        RespCommand.Write(output, "HSET", Key(key), "last_event", SampleEvent.Name);
        RespCommand.Write(output, "HINCRBY", Key(key), "events", "1");
    }

    public int RepliesPerOperation(Operation operation) => operation == Operation.Lookup ? 1 : 2;

    public IWireCodec CreateCodec() => RespReplyCodec.Instance;

    public Task HandshakeAsync(Socket socket, CancellationToken cancellationToken) => Task.CompletedTask;
}
