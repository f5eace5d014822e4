using Cdp.Protocol;
using MessagePack;

namespace Cdp.Client;

/// <summary>
/// Decodes response bodies. Unknown keys are skipped so a newer server can add fields without breaking this
/// client; anything malformed throws <see cref="InvalidDataException"/>.
/// </summary>
public static class ResponseDecoder
{
    /// <summary>Decodes a Hello reply <c>{"version","server","maxBodyLength"}</c>.</summary>
    /// <exception cref="InvalidDataException">The body is malformed.</exception>
    public static HelloReply DecodeHello(ReadOnlyMemory<byte> body)
    {
        try
        {
            var reader = new MessagePackReader(body);
            int version = 0;
            string server = "";
            int maxBodyLength = ProtocolLimits.DefaultMaxBodyLength;
            int count = ValueDecoder.ReadMapHeader(ref reader);
            for (int i = 0; i < count; i++)
            {
                switch (ValueDecoder.ReadString(ref reader))
                {
                    case "version":
                        version = checked((int)ValueDecoder.ReadInt64(ref reader));
                        break;
                    case "server":
                        server = ValueDecoder.ReadString(ref reader);
                        break;
                    case "maxBodyLength":
                        long announced = ValueDecoder.ReadInt64(ref reader);
                        // A limit beyond what one frame can describe means "no practical limit" to this client.
                        maxBodyLength = (int)Math.Clamp(announced, 0, int.MaxValue);
                        break;
                    default:
                        reader.Skip();
                        break;
                }
            }
            EnsureEnd(ref reader);
            return new HelloReply(version, server, maxBodyLength);
        }
        catch (Exception ex) when (IsDecodeFailure(ex))
        {
            throw Malformed("Hello reply", ex);
        }
    }

    /// <summary>Decodes an Erase reply <c>{"erased","fragments"}</c>.</summary>
    /// <exception cref="InvalidDataException">The body is malformed or has no id.</exception>
    public static EraseResult DecodeEraseResult(ReadOnlyMemory<byte> body)
    {
        try
        {
            var reader = new MessagePackReader(body);
            string? id = null;
            int fragments = 0;
            int count = ValueDecoder.ReadMapHeader(ref reader);
            for (int i = 0; i < count; i++)
            {
                switch (ValueDecoder.ReadString(ref reader))
                {
                    case "erased":
                        id = ValueDecoder.ReadString(ref reader);
                        break;
                    case "fragments":
                        fragments = reader.ReadInt32();
                        break;
                    default:
                        reader.Skip();
                        break;
                }
            }
            EnsureEnd(ref reader);
            return new EraseResult(id ?? throw new InvalidDataException("the Erase reply has no 'erased' id."), fragments);
        }
        catch (Exception ex) when (IsDecodeFailure(ex))
        {
            throw Malformed("Erase reply", ex);
        }
    }

    /// <summary>Decodes an Identify or Track reply <c>{"id","created","duplicate"}</c>.</summary>
    /// <exception cref="InvalidDataException">The body is malformed or has no id.</exception>
    public static WriteResult DecodeWriteResult(ReadOnlyMemory<byte> body)
    {
        try
        {
            var reader = new MessagePackReader(body);
            string? id = null;
            bool created = false, duplicate = false;
            List<ErrorBody>? rejected = null;
            int count = ValueDecoder.ReadMapHeader(ref reader);
            for (int i = 0; i < count; i++)
            {
                switch (ValueDecoder.ReadString(ref reader))
                {
                    case "id":
                        id = ValueDecoder.ReadString(ref reader);
                        break;
                    case "created":
                        created = ValueDecoder.ReadBoolean(ref reader);
                        break;
                    case "duplicate":
                        duplicate = ValueDecoder.ReadBoolean(ref reader);
                        break;
                    case "rejected":
                        int n = reader.ReadArrayHeader();
                        rejected = new List<ErrorBody>(Math.Min(n, 1024));
                        for (int j = 0; j < n; j++)
                            rejected.Add(ReadError(ref reader));
                        break;
                    default:
                        reader.Skip();
                        break;
                }
            }
            EnsureEnd(ref reader);
            return new WriteResult(id ?? throw new InvalidDataException("The write result has no \"id\"."), created, duplicate) { Rejected = rejected };
        }
        catch (Exception ex) when (IsDecodeFailure(ex))
        {
            throw Malformed("write result", ex);
        }
    }

    /// <summary>Decodes a GetProfile reply.</summary>
    /// <exception cref="InvalidDataException">The body is malformed or has no id.</exception>
    public static Profile DecodeProfile(ReadOnlyMemory<byte> body)
    {
        try
        {
            var reader = new MessagePackReader(body);
            string? id = null;
            IReadOnlyDictionary<string, IReadOnlyList<string>>? identifiers = null;
            IReadOnlyDictionary<string, object?>? traits = null;
            IReadOnlyDictionary<string, EventStats>? events = null;
            IReadOnlyDictionary<string, object?>? computed = null;
            DateTimeOffset createdAt = default, updatedAt = default;

            int count = ValueDecoder.ReadMapHeader(ref reader);
            for (int i = 0; i < count; i++)
            {
                switch (ValueDecoder.ReadString(ref reader))
                {
                    case "id":
                        id = ValueDecoder.ReadString(ref reader);
                        break;
                    case "identifiers":
                        identifiers = ReadIdentifiers(ref reader);
                        break;
                    case "traits":
                        traits = ValueDecoder.ReadMap(ref reader, level: 2);
                        break;
                    case "events":
                        events = ReadEvents(ref reader);
                        break;
                    case "computed":
                        computed = ValueDecoder.ReadMap(ref reader, level: 2);
                        break;
                    case "createdAt":
                        createdAt = ValueDecoder.ReadTimestamp(ref reader);
                        break;
                    case "updatedAt":
                        updatedAt = ValueDecoder.ReadTimestamp(ref reader);
                        break;
                    default:
                        reader.Skip();
                        break;
                }
            }
            EnsureEnd(ref reader);
            return new Profile
            {
                Id = id ?? throw new InvalidDataException("The profile has no \"id\"."),
                Identifiers = identifiers ?? new Dictionary<string, IReadOnlyList<string>>(),
                Traits = traits ?? new Dictionary<string, object?>(),
                Events = events ?? new Dictionary<string, EventStats>(),
                Computed = computed ?? new Dictionary<string, object?>(),
                CreatedAt = createdAt,
                UpdatedAt = updatedAt,
            };
        }
        catch (Exception ex) when (IsDecodeFailure(ex))
        {
            throw Malformed("profile", ex);
        }
    }

    /// <summary>Decodes an error body <c>{"code","message","field"}</c>.</summary>
    /// <exception cref="InvalidDataException">The body is malformed.</exception>
    public static ErrorBody DecodeError(ReadOnlyMemory<byte> body)
    {
        try
        {
            var reader = new MessagePackReader(body);
            var error = ReadError(ref reader);
            EnsureEnd(ref reader);
            return error;
        }
        catch (Exception ex) when (IsDecodeFailure(ex))
        {
            throw Malformed("error body", ex);
        }
    }

    static ErrorBody ReadError(ref MessagePackReader reader)
    {
        string code = "", message = "";
        string? field = null;
        int count = ValueDecoder.ReadMapHeader(ref reader);
        for (int i = 0; i < count; i++)
        {
            switch (ValueDecoder.ReadString(ref reader))
            {
                case "code":
                    code = ValueDecoder.ReadString(ref reader);
                    break;
                case "message":
                    message = ValueDecoder.ReadString(ref reader);
                    break;
                case "field":
                    field = reader.TryReadNil() ? null : ValueDecoder.ReadString(ref reader);
                    break;
                default:
                    reader.Skip();
                    break;
            }
        }
        return new ErrorBody(code, message, field);
    }

    /// <summary>
    /// Turns an error response into the exception the typed API throws. Never throws itself: an empty or
    /// malformed error body still yields a <see cref="CdpException"/> with a code derived from the status, so a
    /// broken error body cannot hide the status.
    /// </summary>
    public static CdpException CreateException(Status status, ReadOnlyMemory<byte> body)
    {
        if (!body.IsEmpty)
        {
            try
            {
                ErrorBody error = DecodeError(body);
                return new CdpException(status, error.Code.Length > 0 ? error.Code : DefaultCode(status),
                    error.Message.Length > 0 ? error.Message : $"The server answered {status}.", error.Field);
            }
            catch (InvalidDataException)
            {
                // Fall through to the status-only exception.
            }
        }
        return new CdpException(status, DefaultCode(status), $"The server answered {status} without a readable error body.", null);
    }

    private static IReadOnlyDictionary<string, IReadOnlyList<string>> ReadIdentifiers(ref MessagePackReader reader)
    {
        int count = ValueDecoder.ReadMapHeader(ref reader);
        var identifiers = new Dictionary<string, IReadOnlyList<string>>(count, StringComparer.Ordinal);
        for (int i = 0; i < count; i++)
        {
            string type = ValueDecoder.ReadString(ref reader);
            identifiers[type] = ValueDecoder.ReadStringArray(ref reader);
        }
        return identifiers;
    }

    private static IReadOnlyDictionary<string, EventStats> ReadEvents(ref MessagePackReader reader)
    {
        int count = ValueDecoder.ReadMapHeader(ref reader);
        var events = new Dictionary<string, EventStats>(count, StringComparer.Ordinal);
        for (int i = 0; i < count; i++)
        {
            string name = ValueDecoder.ReadString(ref reader);
            long eventCount = 0;
            DateTimeOffset first = default, last = default;
            int fields = ValueDecoder.ReadMapHeader(ref reader);
            for (int f = 0; f < fields; f++)
            {
                switch (ValueDecoder.ReadString(ref reader))
                {
                    case "count":
                        eventCount = ValueDecoder.ReadInt64(ref reader);
                        break;
                    case "first":
                        first = ValueDecoder.ReadTimestamp(ref reader);
                        break;
                    case "last":
                        last = ValueDecoder.ReadTimestamp(ref reader);
                        break;
                    default:
                        reader.Skip();
                        break;
                }
            }
            events[name] = new EventStats(eventCount, first, last);
        }
        return events;
    }

    private static void EnsureEnd(ref MessagePackReader reader)
    {
        if (!reader.End)
            throw new InvalidDataException("Trailing bytes after the body map.");
    }

    private static bool IsDecodeFailure(Exception ex)
        => ex is EndOfStreamException or MessagePackSerializationException or OverflowException or InvalidDataException;

    private static InvalidDataException Malformed(string what, Exception inner)
        => new($"Malformed {what}: {inner.Message}", inner);

    // Maps a status to the code its error body should have carried, for bodies that are missing or unreadable.
    private static string DefaultCode(Status status) => status switch
    {
        Status.BadRequest => ErrorCode.Malformed,
        Status.Conflict => ErrorCode.IdentityConflict,
        Status.FrameTooLarge => ErrorCode.FrameTooLarge,
        Status.UnknownOpcode => ErrorCode.UnknownOpcode,
        Status.ProtocolError => ErrorCode.Protocol,
        Status.UnsupportedVersion => ErrorCode.UnsupportedVersion,
        Status.Unavailable => ErrorCode.Unavailable,
        Status.ProfileTooLarge => ErrorCode.ProfileTooLarge,
        _ => ErrorCode.Internal,
    };
}
