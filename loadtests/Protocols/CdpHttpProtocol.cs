using System.Buffers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Cdp.LoadTests.Profiles;
using Cdp.LoadTests.Workload;

namespace Cdp.LoadTests.Protocols;

/// <summary>
/// Cdp's HTTP facade over pipelined HTTP/1.1 keep-alive: lookup is <c>GET /v1/profiles/email/{email}</c>, track is
/// <c>POST /v1/track</c> with a small Segment Spec body (the e-mail in <c>context.traits</c>, as tracking SDKs send it).
/// </summary>
internal sealed class CdpHttpProtocol(string host, int port) : IWireProtocol
{
    private readonly string hostHeader = $"{host}:{port}";

    public string Name => "cdp-http";

    public string Describe(Operation operation) => operation == Operation.Lookup
        ? "GET /v1/profiles/email/{email}"
        : $"POST /v1/track {{event: \"{SampleEvent.Name}\", context: {{traits: {{email}}}}, properties: {{sku, price}}}}";

    public void EncodeOperation(Operation operation, int key, IBufferWriter<byte> output)
    {
        string request;
        if (operation == Operation.Lookup)
        {
            request = $"GET /v1/profiles/email/{SampleProfile.Email(key)} HTTP/1.1\r\nHost: {hostHeader}\r\n\r\n";
        }
        else
        {
            string body = TrackBody(key);
            request = $"POST /v1/track HTTP/1.1\r\nHost: {hostHeader}\r\nContent-Type: application/json\r\n" +
                      $"Content-Length: {Encoding.UTF8.GetByteCount(body)}\r\n\r\n{body}";
        }
        output.Write(Encoding.UTF8.GetBytes(request));
    }

    public int RepliesPerOperation(Operation operation) => 1;

    public IWireCodec CreateCodec() => HttpReplyCodec.Instance;

    public Task HandshakeAsync(Socket socket, CancellationToken cancellationToken) => Task.CompletedTask;

    private static string TrackBody(int key) => JsonSerializer.Serialize(new Dictionary<string, object>
    {
        ["event"] = SampleEvent.Name,
        ["context"] = new Dictionary<string, object> { ["traits"] = new Dictionary<string, string> { ["email"] = SampleProfile.Email(key) } },
        ["properties"] = new Dictionary<string, object> { ["sku"] = SampleEvent.Sku(key), ["price"] = SampleEvent.Price },
    });
}
