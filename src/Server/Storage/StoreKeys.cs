using System.Buffers.Binary;
using System.Text;

namespace Cdp.Server.Storage;

/// <summary>
/// The key spaces of the one FASTER store, told apart by their first byte so that a single
/// checkpoint covers identities and profiles together.
/// </summary>
public static class StoreKeys
{
    /// <summary><c>'i' | u8 identifier type | UTF-8 normalised value</c> → u64 master id.</summary>
    public const byte Identity = (byte)'i';
    /// <summary><c>'p' | u64 master id</c> → profile record (for master ids from 2^28 on, or in a store that holds no <see cref="CompactProfile"/> keys).</summary>
    public const byte Profile = (byte)'p';

    /// <summary>
    /// <c>0xF0 | (master id &gt;&gt; 24)</c>, then the id's low 24 bits → profile record, for master ids below
    /// 2^28 in a store created with compact profile keys (<see cref="ProfileStore.CompactProfileKeys"/>).
    /// </summary>
    /// <remarks>
    /// FASTER keeps a key as a 4-byte length and its bytes, aligned to 8: a 9-byte key takes 16 bytes,
    /// a 4-byte key 8. With a profile per person that is 8 bytes per profile (memory per profile is a
    /// tracked figure). The key spaces above all start with an ASCII letter, so none starts with 0xF_.
    /// </remarks>
    public const byte CompactProfile = 0xF0;

    /// <summary>Master ids below this get a <see cref="CompactProfile"/> key in a store that uses them.</summary>
    public const ulong CompactProfileLimit = 1UL << 28;

    /// <summary>Length of the longest profile key.</summary>
    public const int MaxProfileKeyLength = 9;
    /// <summary><c>'d' | UTF-8 messageId</c> → u64 master id of the write that first carried it.</summary>
    public const byte Dedupe = (byte)'d';

    /// <summary>
    /// <c>'h' | u64 master id</c> → i64 journal address of the profile's last history entry, u8 side.
    /// Written only for profiles whose record is still in format 3; formats 4 and 5 keep the head in the
    /// record's header, and the first write that finds one of these moves it there.
    /// </summary>
    public const byte History = (byte)'h';
    /// <summary><c>'c' | u64 master id</c> → the identity conflicts recorded on the profile (MessagePack).</summary>
    public const byte Conflicts = (byte)'c';

    /// <summary><c>'a' | u64 master id</c> → the u64 master ids merged into the profile, so a later merge can re-point them.</summary>
    public const byte Absorbed = (byte)'a';

    /// <summary><c>'m' | u64 master id</c> → the profile's segment memberships (<see cref="Cdp.Server.Segments.MembershipRecord"/>).</summary>
    public const byte Memberships = (byte)'m';

    /// <summary>Writes a memberships key and returns its length.</summary>
    public static int WriteMemberships(Span<byte> destination, ulong masterId)
        => WriteMasterKey(destination, Memberships, masterId);

    /// <summary>Largest key, sized for the longest identifier value or messageId.</summary>
    public const int MaxKeyLength = 2 + Cdp.Protocol.ProtocolLimits.MaxIdentifierBytes * 3;

    /// <summary>Writes an identity key and returns its length.</summary>
    public static int WriteIdentity(Span<byte> destination, byte type, string value)
    {
        destination[0] = Identity;
        destination[1] = type;
        return 2 + Encoding.UTF8.GetBytes(value, destination[2..]);
    }

    /// <summary>
    /// Writes the profile key of <paramref name="masterId"/> and returns its length: 4 bytes when
    /// <paramref name="compact"/> (the store's <see cref="ProfileStore.CompactProfileKeys"/>) and the id is
    /// below <see cref="CompactProfileLimit"/>, otherwise 9. Which form a profile has depends on nothing else.
    /// </summary>
    public static int WriteProfile(Span<byte> destination, ulong masterId, bool compact)
    {
        if (!compact || masterId >= CompactProfileLimit)
            return WriteMasterKey(destination, Profile, masterId);
        destination[0] = (byte)(CompactProfile | (int)(masterId >> 24));
        destination[1] = (byte)masterId;
        destination[2] = (byte)(masterId >> 8);
        destination[3] = (byte)(masterId >> 16);
        return 4;
    }

    /// <summary>
    /// When <paramref name="key"/> is a 9-byte profile key whose id has a compact form, writes that form
    /// to <paramref name="destination"/> and returns its length; 0 for any other key (a compaction
    /// moving an older store to compact keys).
    /// </summary>
    public static int TryCompactProfileKey(ReadOnlySpan<byte> key, Span<byte> destination)
    {
        if (key.Length != 9 || key[0] != Profile)
            return 0;
        ulong id = BinaryPrimitives.ReadUInt64LittleEndian(key[1..]);
        return id < CompactProfileLimit ? WriteProfile(destination, id, compact: true) : 0;
    }

    /// <summary>Writes a history head key and returns its length.</summary>
    public static int WriteHistory(Span<byte> destination, ulong masterId)
        => WriteMasterKey(destination, History, masterId);

    /// <summary>Writes a conflicts key and returns its length.</summary>
    public static int WriteConflicts(Span<byte> destination, ulong masterId)
        => WriteMasterKey(destination, Conflicts, masterId);

    /// <summary>Writes an absorbed-ids key and returns its length.</summary>
    public static int WriteAbsorbed(Span<byte> destination, ulong masterId)
        => WriteMasterKey(destination, Absorbed, masterId);

    /// <summary>Writes a dedupe key and returns its length.</summary>
    public static int WriteDedupe(Span<byte> destination, string messageId)
    {
        destination[0] = Dedupe;
        return 1 + Encoding.UTF8.GetBytes(messageId, destination[1..]);
    }

    /// <summary>The keys made of a key space byte and a master id (profile, history head, conflicts, absorbed ids).</summary>
    static int WriteMasterKey(Span<byte> destination, byte space, ulong masterId)
    {
        destination[0] = space;
        BinaryPrimitives.WriteUInt64LittleEndian(destination[1..], masterId);
        return 9;
    }
}
