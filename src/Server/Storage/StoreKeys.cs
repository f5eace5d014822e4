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
    /// <summary><c>'p' | u64 master id</c> → profile record.</summary>
    public const byte Profile = (byte)'p';
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

    /// <summary>Writes a profile key and returns its length.</summary>
    public static int WriteProfile(Span<byte> destination, ulong masterId)
        => WriteMasterKey(destination, Profile, masterId);

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
