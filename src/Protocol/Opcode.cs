namespace Cdp.Protocol;

/// <summary>
/// The operation a frame carries. A response echoes the opcode of the request it answers.
/// Values are part of the wire contract (docs/protocol.md); never renumber.
/// </summary>
public enum Opcode : byte
{
    /// <summary>Version handshake; must be the first frame on a connection.</summary>
    Hello = 0x01,
    /// <summary>Liveness probe; the reply has an empty body.</summary>
    Ping = 0x02,
    /// <summary>Presents an API key; when the server has keys, must follow Hello before anything else.</summary>
    Auth = 0x03,
    /// <summary>Link identifiers to one profile and upsert traits.</summary>
    Identify = 0x10,
    /// <summary>Record an event on the profile the identifiers resolve to.</summary>
    Track = 0x11,
    /// <summary>Erase the person an identifier leads to: the profile, every merged fragment, identifiers, memberships and journalled writes (admin scope).</summary>
    Erase = 0x12,
    /// <summary>Read a profile by any of its identifiers.</summary>
    GetProfile = 0x20,
    /// <summary>Receive pushes of the chosen segments' membership changes on this connection.</summary>
    Subscribe = 0x30,
    /// <summary>Stop receiving pushes of the chosen segments.</summary>
    Unsubscribe = 0x31,
    /// <summary>Server push: a profile entered or left a subscribed segment (flags carry <see cref="FrameHeader.PushFlag"/>).</summary>
    SegmentChange = 0x32,
}
