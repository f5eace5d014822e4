using System.Buffers;

namespace Cdp.Server.Binary;

/// <summary>
/// The replies of one batch on one socket connection: a growable byte array that
/// <see cref="BinarySession"/> writes into through <see cref="IBufferWriter{T}"/> and the connection
/// sends with one send call, then <see cref="Reset"/>s for the next batch.
/// </summary>
/// <remarks>
/// The array is rented from <see cref="ArrayPool{T}.Shared"/> and owned by this object alone; it is
/// returned on <see cref="Dispose"/>. A batch holds at most <see cref="BinarySession.MaxBatchOutputBytes"/>
/// plus one reply, so the buffer grows a few times at most and then stays the same: no allocation per
/// batch in steady state. An exceptionally large batch (a huge profile) makes it grow; <see cref="Reset"/>
/// gives such an array back so one big reply does not pin memory for the connection's lifetime.
/// </remarks>
public sealed class SocketReplyBuffer : IBufferWriter<byte>, IDisposable
{
    /// <summary>Capacity kept between batches; larger arrays are returned to the pool on <see cref="Reset"/>.</summary>
    public const int RetainedBytes = BinarySession.MaxBatchOutputBytes + 64 * 1024;

    readonly int initialBytes;
    byte[] buffer;
    int written;

    /// <summary>Creates the buffer with <paramref name="initialBytes"/> of room.</summary>
    public SocketReplyBuffer(int initialBytes = 16 * 1024)
    {
        this.initialBytes = initialBytes;
        buffer = ArrayPool<byte>.Shared.Rent(initialBytes);
    }

    /// <summary>Bytes written since the last <see cref="Reset"/>.</summary>
    public int WrittenCount => written;

    /// <summary>The replies written since the last <see cref="Reset"/>; valid until the next write or reset.</summary>
    public ReadOnlyMemory<byte> WrittenMemory => buffer.AsMemory(0, written);

    /// <summary>Forgets the written bytes (after they were sent).</summary>
    public void Reset()
    {
        written = 0;
        if (buffer.Length > RetainedBytes)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            buffer = ArrayPool<byte>.Shared.Rent(initialBytes);
        }
    }

    /// <inheritdoc />
    public void Advance(int count)
    {
        if ((uint)count > (uint)(buffer.Length - written))
            throw new ArgumentOutOfRangeException(nameof(count));
        written += count;
    }

    /// <inheritdoc />
    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Reserve(sizeHint);
        return buffer.AsMemory(written);
    }

    /// <inheritdoc />
    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Reserve(sizeHint);
        return buffer.AsSpan(written);
    }

    void Reserve(int sizeHint)
    {
        int needed = Math.Max(sizeHint, 1);
        if (buffer.Length - written >= needed)
            return;
        int size = (int)Math.Min(Array.MaxLength, Math.Max((long)written + needed, buffer.Length * 2L));
        var larger = ArrayPool<byte>.Shared.Rent(size);
        buffer.AsSpan(0, written).CopyTo(larger);
        ArrayPool<byte>.Shared.Return(buffer);
        buffer = larger;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        var b = buffer;
        buffer = [];
        written = 0;
        if (b.Length > 0)
            ArrayPool<byte>.Shared.Return(b);
    }
}
