using System.Buffers;

namespace Cdp.Client;

/// <summary>
/// A growable <see cref="IBufferWriter{T}"/> over one contiguous array rented from <see cref="ArrayPool{T}.Shared"/>.
/// Frames are built in one piece so the header can be patched after the body is written and the whole frame
/// copied to the socket with one call.
/// </summary>
internal sealed class PooledBufferWriter : IBufferWriter<byte>, IDisposable
{
    private byte[] buffer;
    private int written;

    public PooledBufferWriter(int initialCapacity = 256)
    {
        buffer = ArrayPool<byte>.Shared.Rent(Math.Max(initialCapacity, 16));
    }

    public int WrittenCount => written;

    public Span<byte> WrittenSpan => buffer.AsSpan(0, written);

    public ReadOnlyMemory<byte> WrittenMemory => buffer.AsMemory(0, written);

    public void Advance(int count)
    {
        if ((uint)count > (uint)(buffer.Length - written))
            throw new ArgumentOutOfRangeException(nameof(count));
        written += count;
    }

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        EnsureCapacity(sizeHint);
        return buffer.AsMemory(written);
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        EnsureCapacity(sizeHint);
        return buffer.AsSpan(written);
    }

    public byte[] ToArray() => buffer.AsSpan(0, written).ToArray();

    public void Dispose()
    {
        byte[] toReturn = buffer;
        buffer = [];
        written = 0;
        if (toReturn.Length > 0)
            ArrayPool<byte>.Shared.Return(toReturn);
    }

    private void EnsureCapacity(int sizeHint)
    {
        if (sizeHint < 1)
            sizeHint = 1;
        if (buffer.Length - written >= sizeHint)
            return;
        if (buffer.Length == 0)
            throw new ObjectDisposedException(nameof(PooledBufferWriter));
        int needed = checked(written + sizeHint);
        int size = Math.Max(needed, buffer.Length * 2);
        byte[] larger = ArrayPool<byte>.Shared.Rent(size);
        buffer.AsSpan(0, written).CopyTo(larger);
        ArrayPool<byte>.Shared.Return(buffer);
        buffer = larger;
    }
}
