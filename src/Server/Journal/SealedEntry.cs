using System.Buffers.Binary;
using System.Security.Cryptography;
using Cdp.Server.Erasure;

namespace Cdp.Server.Journal;

/// <summary>
/// A journal entry encrypted under the key of the profile it was written for, so that destroying
/// that key (<see cref="ProfileKeys"/>) makes the entry unreadable though it stays in the log:
/// <c>0xC1 | u8 version | u64 keyId | u64 seq | u64 highestId | 12-byte nonce | 16-byte tag | AES-256-GCM(entry)</c>.
/// </summary>
/// <remarks>
/// 0xC1 is the one byte MessagePack never uses, so a sealed entry is told apart from the plain entries
/// of older journals (and from erasure entries, which carry nothing of the person and stay plain).
/// The header is in the clear and authenticated with the ciphertext: replay still advances the
/// sequence and id counters past an entry it can no longer open. Nonces come from a
/// <see cref="NonceSequence"/> per session, not from the sequence number, which can repeat for writes
/// lost in a crash before their commit.
/// </remarks>
public static class SealedEntry
{
    /// <summary>First byte of a sealed entry.</summary>
    public const byte Marker = 0xC1;
    const byte Version = 1;
    const int HeaderBytes = 1 + 1 + 8 + 8 + 8;
    const int NonceBytes = 12;
    const int TagBytes = 16;

    /// <summary>Bytes a sealed entry adds to the plain one.</summary>
    public const int Overhead = HeaderBytes + NonceBytes + TagBytes;

    /// <summary>True when <paramref name="bytes"/> is a sealed entry.</summary>
    public static bool IsSealed(ReadOnlySpan<byte> bytes) => bytes.Length > 0 && bytes[0] == Marker;

    /// <summary>Seals <paramref name="plain"/> under <paramref name="key"/> into <paramref name="destination"/> (at least <see cref="Overhead"/> bytes longer) and returns the length.</summary>
    public static int Seal(EntryCipher cipher, ReadOnlySpan<byte> key, ref NonceSequence nonces, ulong keyId, ulong seq, ulong highestId, ReadOnlySpan<byte> plain, Span<byte> destination, bool keepKey = false)
    {
        int length = Overhead + plain.Length;
        if (destination.Length < length)
            throw new ArgumentException("destination too small", nameof(destination));
        var header = destination[..HeaderBytes];
        header[0] = Marker;
        header[1] = Version;
        BinaryPrimitives.WriteUInt64LittleEndian(header[2..], keyId);
        BinaryPrimitives.WriteUInt64LittleEndian(header[10..], seq);
        BinaryPrimitives.WriteUInt64LittleEndian(header[18..], highestId);
        var nonce = destination.Slice(HeaderBytes, NonceBytes);
        nonces.Next(nonce);
        var tag = destination.Slice(HeaderBytes + NonceBytes, TagBytes);
        if (keepKey)
            cipher.EncryptKeepingKey(key, nonce, plain, destination.Slice(Overhead, plain.Length), tag, header);
        else
            cipher.Encrypt(key, nonce, plain, destination.Slice(Overhead, plain.Length), tag, header);
        return length;
    }

    /// <summary>The clear header of a sealed entry; throws <see cref="InvalidDataException"/> when it is too short or of an unknown version.</summary>
    public static (ulong KeyId, ulong Seq, ulong HighestId) ReadHeader(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < Overhead || bytes[0] != Marker)
            throw new InvalidDataException("truncated sealed journal entry");
        if (bytes[1] != Version)
            throw new InvalidDataException($"unknown sealed journal entry version {bytes[1]}");
        return (BinaryPrimitives.ReadUInt64LittleEndian(bytes[2..]), BinaryPrimitives.ReadUInt64LittleEndian(bytes[10..]), BinaryPrimitives.ReadUInt64LittleEndian(bytes[18..]));
    }

    /// <summary>
    /// Decodes a journal entry, opening it first when sealed. Null when its key was destroyed (the
    /// person was erased). Throws <see cref="InvalidDataException"/> when it is damaged. Opened with
    /// the calling thread's cipher (<see cref="EntryCipher.ForThread"/>): readers (replay, history)
    /// have no session of their own.
    /// </summary>
    public static JournalEntry? Open(byte[] bytes, ProfileKeys keys)
    {
        if (!IsSealed(bytes))
            return JournalEntry.Read(bytes);
        var (keyId, _, _) = ReadHeader(bytes);
        Span<byte> key = stackalloc byte[ProfileKeys.KeyBytes];
        if (!keys.TryGet(keyId, key))
            return null;
        var plain = new byte[bytes.Length - Overhead];
        try
        {
            if (!EntryCipher.ForThread.TryDecrypt(key, bytes.AsSpan(HeaderBytes, NonceBytes), bytes.AsSpan(Overhead), bytes.AsSpan(HeaderBytes + NonceBytes, TagBytes), plain, bytes.AsSpan(0, HeaderBytes)))
                throw new InvalidDataException($"sealed journal entry of profile {keyId} does not open with its key (damaged entry or key file)");
        }
        finally
        {
            key.Clear();
        }
        return JournalEntry.Read(plain);
    }
}

/// <summary>
/// GCM nonces for one session: a random 64-bit prefix drawn when the sequence starts (and again every
/// 2^32 nonces) followed by a 32-bit counter. A (key, nonce) pair repeats only if two sessions draw the
/// same prefix (about 2^-64 per pair), while a nonce costs an increment instead of a call to the
/// system's random source (close to a microsecond, as much as the encryption itself).
/// </summary>
public struct NonceSequence
{
    ulong prefix;
    uint counter;
    bool started;

    /// <summary>Writes the next 12-byte nonce.</summary>
    public void Next(Span<byte> nonce)
    {
        if (!started || counter == uint.MaxValue)
        {
            Span<byte> random = stackalloc byte[8];
            RandomNumberGenerator.Fill(random);
            prefix = BinaryPrimitives.ReadUInt64LittleEndian(random);
            counter = 0;
            started = true;
        }
        BinaryPrimitives.WriteUInt64LittleEndian(nonce, prefix);
        BinaryPrimitives.WriteUInt32LittleEndian(nonce[8..], counter++);
    }
}
