using System.Buffers;
using Cdp.Protocol;
using Cdp.Server.Engine;
using Microsoft.Extensions.Logging;

namespace Cdp.Server.Binary;

/// <summary>What the host should do after <see cref="BinarySession.Consume"/>.</summary>
public enum ConsumeResult
{
    /// <summary>Every complete frame was answered; read more bytes.</summary>
    NeedMoreData,
    /// <summary>The replies reached the batch limit: send them, then call again without reading (frames are waiting).</summary>
    OutputFull,
    /// <summary>Framing is lost: send the replies, then close the connection.</summary>
    Close,
}

/// <summary>
/// The per-connection state machine of the binary protocol. It consumes bytes and writes replies
/// without knowing the socket layer (Garnet's message-consumer pattern): the host feeds it whatever
/// arrived, it processes every complete frame synchronously, and tells the host how far it consumed,
/// whether writes in the batch must become durable before the replies go out, and whether to close.
/// </summary>
public sealed class BinarySession : IDisposable
{
    /// <summary>
    /// Replies buffered before the host must send them. Without a bound, a client that pipelines
    /// thousands of lookups and never reads would make the server hold every reply in memory.
    /// </summary>
    public const int MaxBatchOutputBytes = 256 * 1024;

    // Counted for the tests: the journal's commit thread sends binary replies and must never get further
    // (SocketBinaryConnection leaves it first), or every other connection's commit waits behind it.
    static int consumedOnCommitThread;
    static int disposedOnCommitThread;
    /// <summary>Test hook: batches consumed on the journal's commit thread, in this process (must stay 0).</summary>
    internal static int ConsumedOnCommitThreadForTests => Volatile.Read(ref consumedOnCommitThread);
    /// <summary>Test hook: sessions disposed on the journal's commit thread, in this process (must stay 0).</summary>
    internal static int DisposedOnCommitThreadForTests => Volatile.Read(ref disposedOnCommitThread);

    readonly ProfileEngine engine;
    EngineSession? storage;
    int batchOutputBytes;
    readonly ILogger logger;
    readonly int maxBodyLength;
    readonly WriteCommand command = new();
    readonly ArrayBufferWriter<byte> body = new(4096);
    byte[] scratch = new byte[4096];
    bool helloDone;
    // With API keys configured: the key the connection authenticated with (Auth must follow Hello).
    Cdp.Server.Access.ApiKey? key;
    // Set by a request whose reply must be the connection's last (a refused Auth).
    bool closeAfterReply;
    Cdp.Server.Segments.SegmentSubscription? subscription;

    /// <summary>
    /// A subscription made by the frames just consumed that nothing pushes yet: the host starts a
    /// <see cref="SegmentPushLoop"/> for it after sending the replies (so the Subscribe reply comes
    /// before the first push) and calls <see cref="TakeNewSubscription"/>.
    /// </summary>
    public Cdp.Server.Segments.SegmentSubscription? NewSubscription { get; private set; }

    /// <summary>Hands <see cref="NewSubscription"/> to the host.</summary>
    public Cdp.Server.Segments.SegmentSubscription? TakeNewSubscription()
    {
        var s = NewSubscription;
        NewSubscription = null;
        return s;
    }

    /// <summary>Creates the session and its engine session (one FASTER session per connection).</summary>
    public BinarySession(ProfileEngine engine, ILogger logger)
    {
        this.engine = engine;
        this.logger = logger;
        maxBodyLength = engine.Options.MaxFrameBodyBytes;
    }

    // Created on Hello, not on accept: an idle or hostile socket costs no FASTER session or buffers.
    EngineSession Storage => storage ??= engine.NewSession();

    /// <summary>
    /// Highest journal address written by the frames consumed since the last <see cref="ClearCommitAddress"/>,
    /// or -1. The host must wait for it to commit before sending the replies: that is the acknowledgement.
    /// </summary>
    public long CommitAddress { get; private set; } = -1;

    /// <summary>Forgets the commit address once the host has waited for it.</summary>
    public void ClearCommitAddress() => CommitAddress = -1;

    /// <summary>
    /// Processes the complete frames at the start of <paramref name="buffer"/> (until the replies reach
    /// <see cref="MaxBatchOutputBytes"/>), writes one reply per frame to <paramref name="output"/> and
    /// slices <paramref name="buffer"/> to what is left.
    /// </summary>
    public ConsumeResult Consume(ref ReadOnlySequence<byte> buffer, IBufferWriter<byte> output)
    {
        // The frames of one receive are one batch for the engine: it clears key material once at the end.
        storage?.BeginBatch();
        try
        {
            return ConsumeFrames(ref buffer, output);
        }
        finally
        {
            storage?.EndBatch();
        }
    }

    /// <summary>Whether this connection's engine session still holds a profile key in its cipher. For tests.</summary>
    internal bool HoldsProfileKeyForTests => storage?.CipherHoldsKey ?? false;

    ConsumeResult ConsumeFrames(ref ReadOnlySequence<byte> buffer, IBufferWriter<byte> output)
    {
        Span<byte> headerBytes = stackalloc byte[FrameHeader.Size];
        if (engine.Journal.OnCommitThread)
            Interlocked.Increment(ref consumedOnCommitThread);
        batchOutputBytes = 0;
        while (buffer.Length >= FrameHeader.Size)
        {
            if (batchOutputBytes >= MaxBatchOutputBytes)
                return ConsumeResult.OutputFull;
            buffer.Slice(0, FrameHeader.Size).CopyTo(headerBytes);
            var header = FrameHeader.Read(headerBytes);
            if (header.BodyLength < 0 || header.BodyLength > maxBodyLength)
            {
                uint announced = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(headerBytes);
                WriteError(output, header, Status.FrameTooLarge, ErrorCode.FrameTooLarge,
                    $"the frame body of {announced} bytes exceeds the limit of {maxBodyLength}; closing the connection.", null);
                buffer = buffer.Slice(buffer.End);
                return ConsumeResult.Close;
            }
            if (header.Flags != 0 || header.Status != Status.Ok)
            {
                WriteError(output, header, Status.ProtocolError, ErrorCode.Protocol,
                    "reserved header fields (flags, status) must be zero in requests; closing the connection.", null);
                buffer = buffer.Slice(buffer.End);
                return ConsumeResult.Close;
            }
            long frameLength = FrameHeader.Size + (long)header.BodyLength;
            if (buffer.Length < frameLength)
                break;
            var bodySequence = buffer.Slice(FrameHeader.Size, header.BodyLength);
            ReadOnlyMemory<byte> requestBody;
            if (bodySequence.IsSingleSegment)
                requestBody = bodySequence.First;
            else
            {
                if (scratch.Length < header.BodyLength)
                    scratch = new byte[Math.Max(header.BodyLength, scratch.Length * 2)];
                bodySequence.CopyTo(scratch);
                requestBody = scratch.AsMemory(0, header.BodyLength);
            }
            Dispatch(header, requestBody, output);
            buffer = buffer.Slice(frameLength);
            if (closeAfterReply)
            {
                buffer = buffer.Slice(buffer.End);
                return ConsumeResult.Close;
            }
        }
        return ConsumeResult.NeedMoreData;
    }

    void Dispatch(in FrameHeader header, ReadOnlyMemory<byte> requestBody, IBufferWriter<byte> output)
    {
        body.ResetWrittenCount();
        try
        {
            if (!helloDone && header.Opcode is not (Opcode.Hello or Opcode.Ping))
            {
                WriteError(output, header, Status.ProtocolError, ErrorCode.Protocol, "the first request on a connection must be Hello.", null);
                return;
            }
            var access = engine.Access;
            if (access.Enforced && key is null && header.Opcode is not (Opcode.Hello or Opcode.Auth))
            {
                // Nothing is served before the key: refuse and close, so a client without one fails fast.
                closeAfterReply = true;
                WriteError(output, header, Status.Unauthorized, ErrorCode.Unauthenticated,
                    "this server needs an API key: send Auth {\"key\": ...} right after Hello; closing the connection.", null);
                return;
            }
            if (key is not null && ScopeOf(header.Opcode) is var scope and not Cdp.Server.Access.AccessScope.None)
            {
                var decision = Cdp.Server.Access.ApiKeyRegistry.Check(key, scope, null);
                if (decision.Outcome != Cdp.Server.Access.AccessOutcome.Allowed)
                {
                    WriteError(output, header, decision.Outcome == Cdp.Server.Access.AccessOutcome.RateLimited ? Status.RateLimited : Status.Forbidden,
                        decision.Code!, decision.Reason!, null);
                    return;
                }
            }
            switch (header.Opcode)
            {
                case Opcode.Auth:
                    var presented = BinaryRequestParser.ParseAuth(requestBody);
                    if (!access.Enforced)
                    {
                        BinaryResponseWriter.WriteAuth(body, null);
                        break;
                    }
                    Span<char> chars = stackalloc char[presented.Length];
                    int n = System.Text.Encoding.UTF8.GetChars(presented, chars);
                    var found = access.Find(chars[..n]);
                    if (found is null)
                    {
                        closeAfterReply = true;
                        WriteError(output, header, Status.Unauthorized, ErrorCode.Unauthenticated, "the API key is not valid; closing the connection.", "key");
                        return;
                    }
                    key = found;
                    BinaryResponseWriter.WriteAuth(body, found);
                    break;
                case Opcode.Subscribe:
                {
                    var names = BinaryRequestParser.ParseSegments(requestBody);
                    // One subscription per connection; one the server cut off is replaced.
                    if (subscription is null || subscription.Closed)
                    {
                        subscription?.Dispose();
                        subscription = engine.SegmentFeed.Subscribe();
                        NewSubscription = subscription;
                    }
                    subscription.Add(names);
                    BinaryResponseWriter.WriteSegments(body, subscription.Segments);
                    break;
                }
                case Opcode.Unsubscribe:
                {
                    var names = BinaryRequestParser.ParseSegments(requestBody);
                    subscription?.Remove(names);
                    BinaryResponseWriter.WriteSegments(body, subscription?.Segments ?? []);
                    break;
                }
                case Opcode.Hello:
                    int version = BinaryRequestParser.ParseHello(requestBody);
                    if (version != FrameHeader.ProtocolVersion)
                    {
                        WriteError(output, header, Status.UnsupportedVersion, ErrorCode.UnsupportedVersion,
                            $"protocol version {version} is not supported; this server speaks version {FrameHeader.ProtocolVersion}.", "version");
                        return;
                    }
                    helloDone = true;
                    BinaryResponseWriter.WriteHello(body, maxBodyLength);
                    break;
                case Opcode.Ping:
                    break;
                case Opcode.Identify:
                case Opcode.Track:
                    BinaryRequestParser.ParseWrite(requestBody, header.Opcode == Opcode.Track ? WriteKind.Track : WriteKind.Identify, command);
                    var result = Storage.Write(command);
                    CommitAddress = Math.Max(CommitAddress, result.JournalAddress);
                    BinaryResponseWriter.WriteResult(body, result);
                    break;
                case Opcode.Erase:
                {
                    var (type, value) = BinaryRequestParser.ParseErase(requestBody);
                    if (Storage.Erase(type, value) is not { } erased)
                    {
                        WriteError(output, header, Status.NotFound, ErrorCode.NotFound, $"no profile is reachable from {type} '{value}'.", null);
                        return;
                    }
                    // Acknowledged with the batch once durable, like a write.
                    CommitAddress = Math.Max(CommitAddress, erased.JournalAddress);
                    BinaryResponseWriter.WriteErase(body, erased);
                    break;
                }
                case Opcode.GetProfile:
                    var query = BinaryRequestParser.ParseGetProfile(requestBody);
                    var policy = Storage.PurposeForRead(query.Purpose);
                    if (key is not null && policy is not null && !key.AllowsPurpose(policy.Name))
                    {
                        WriteError(output, header, Status.Forbidden, ErrorCode.AccessDenied, $"the key '{key.Name}' may not read for the purpose '{policy.Name}'.", "purpose");
                        return;
                    }
                    var view = Storage.GetProfile(query.Type, query.Value);
                    if (view is null)
                    {
                        WriteFrame(output, header, Status.NotFound);
                        return;
                    }
                    query.ApplyProjection(view);
                    Storage.LimitToPurpose(view, policy);
                    BinaryResponseWriter.WriteProfile(body, view);
                    break;
                default:
                    WriteError(output, header, Status.UnknownOpcode, ErrorCode.UnknownOpcode, $"opcode 0x{(byte)header.Opcode:x2} is not defined in protocol version 1.", null);
                    return;
            }
            WriteFrame(output, header, Status.Ok);
        }
        catch (EngineException e)
        {
            WriteError(output, header, e.Status, e.Code, e.Message, e.Field);
        }
        catch (MessagePack.MessagePackSerializationException e)
        {
            WriteError(output, header, Status.BadRequest, ErrorCode.Malformed, "the body is not well-formed MessagePack: " + e.Message, "body");
        }
        catch (EndOfStreamException)
        {
            WriteError(output, header, Status.BadRequest, ErrorCode.Malformed, "the body ends in the middle of a value.", "body");
        }
        catch (Exception e)
        {
            logger.LogError(e, "Request {RequestId} ({Opcode}) failed.", header.RequestId, header.Opcode);
            WriteError(output, header, Status.InternalError, ErrorCode.Internal, "the server failed to process the request.", null);
        }
    }

    /// <summary>What an operation needs of the connection's key.</summary>
    static Cdp.Server.Access.AccessScope ScopeOf(Opcode opcode) => opcode switch
    {
        Opcode.Identify or Opcode.Track => Cdp.Server.Access.AccessScope.Write,
        Opcode.GetProfile or Opcode.Subscribe or Opcode.Unsubscribe => Cdp.Server.Access.AccessScope.Read,
        Opcode.Erase => Cdp.Server.Access.AccessScope.Admin,
        _ => Cdp.Server.Access.AccessScope.None,
    };

    void WriteError(IBufferWriter<byte> output, in FrameHeader request, Status status, string code, string message, string? field)
    {
        body.ResetWrittenCount();
        BinaryResponseWriter.WriteError(body, code, message, field);
        WriteFrame(output, request, status);
    }

    void WriteFrame(IBufferWriter<byte> output, in FrameHeader request, Status status)
    {
        int length = body.WrittenCount;
        var span = output.GetSpan(FrameHeader.Size + length);
        new FrameHeader(length, request.Opcode, status, 0, request.RequestId).Write(span);
        body.WrittenSpan.CopyTo(span[FrameHeader.Size..]);
        output.Advance(FrameHeader.Size + length);
        batchOutputBytes += FrameHeader.Size + length;
        body.ResetWrittenCount();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (engine.Journal.OnCommitThread)
            Interlocked.Increment(ref disposedOnCommitThread);
        subscription?.Dispose();
        storage?.Dispose();
    }
}
