using System.Buffers;
using Cdp.LoadTests.Workload;

namespace Cdp.LoadTests.Protocols;

/// <summary>
/// The bytes of one operation for every profile key, encoded once before measuring: the measured loop copies them and
/// never serializes. One array plus offsets rather than an array per key, to keep the garbage collector out of it.
/// </summary>
internal sealed class EncodedRequests
{
    private readonly byte[] bytes;
    private readonly int[] offsets;

    private EncodedRequests(byte[] bytes, int[] offsets, int maxLength)
    {
        this.bytes = bytes;
        this.offsets = offsets;
        MaxLength = maxLength;
    }

    /// <summary>The longest request, which sizes the send buffers.</summary>
    public int MaxLength { get; }

    public ReadOnlySpan<byte> this[int key] => bytes.AsSpan(offsets[key], offsets[key + 1] - offsets[key]);

    public static EncodedRequests Build(IWireProtocol protocol, Operation operation, int keys)
    {
        var output = new ArrayBufferWriter<byte>(Math.Min(keys, 1 << 16) * 64);
        var offsets = new int[keys + 1];
        int maxLength = 0;
        for (int key = 0; key < keys; key++)
        {
            protocol.EncodeOperation(operation, key, output);
            offsets[key + 1] = output.WrittenCount;
            maxLength = Math.Max(maxLength, offsets[key + 1] - offsets[key]);
        }
        return new EncodedRequests(output.WrittenSpan.ToArray(), offsets, maxLength);
    }
}
