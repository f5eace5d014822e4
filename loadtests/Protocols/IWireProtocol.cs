using System.Buffers;
using System.Net.Sockets;
using Cdp.LoadTests.Workload;

namespace Cdp.LoadTests.Protocols;

/// <summary>
/// How one kind of target is spoken to. Requests are encoded once per key before a run (<see cref="EncodedRequests"/>);
/// the driver only copies bytes and finds reply boundaries, so every target gets the same client costs.
/// </summary>
internal interface IWireProtocol
{
    /// <summary>What <c>--targets</c> calls it.</summary>
    string Name { get; }

    /// <summary>A one-line description of the wire traffic of each operation, for reports.</summary>
    string Describe(Operation operation);

    /// <summary>Appends everything sent for one operation on profile <paramref name="key"/>.</summary>
    void EncodeOperation(Operation operation, int key, IBufferWriter<byte> output);

    /// <summary>How many replies one operation gets (Redis's track is two commands counted as one operation).</summary>
    int RepliesPerOperation(Operation operation);

    /// <summary>A codec for one new connection.</summary>
    IWireCodec CreateCodec();

    /// <summary>Whatever a new connection must do before requests (Cdp: the Hello handshake).</summary>
    Task HandshakeAsync(Socket socket, CancellationToken cancellationToken);
}
