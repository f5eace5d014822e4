using System.Buffers;
using Cdp.Client;
using Cdp.Protocol;
using MessagePack;
using Xunit;

namespace Cdp.Tests;

/// <summary>
/// Pure codec tests of Cdp.Client (no server): every value type and its edge values go through the client's own
/// encoder and decoder, and the exact MessagePack family chosen is checked where the spec cares.
/// </summary>
public sealed class ClientCodecTests
{
    // ---- integers ----

    [Theory]
    [InlineData(0L, "00")]
    [InlineData(127L, "7f")]
    [InlineData(128L, "cc80")]
    [InlineData(255L, "ccff")]
    [InlineData(256L, "cd0100")]
    [InlineData(65535L, "cdffff")]
    [InlineData(65536L, "ce00010000")]
    [InlineData(4294967295L, "ceffffffff")]
    [InlineData(4294967296L, "cf0000000100000000")]
    [InlineData(long.MaxValue, "cf7fffffffffffffff")]
    [InlineData(-1L, "ff")]
    [InlineData(-32L, "e0")]
    [InlineData(-33L, "d0df")]
    [InlineData(-128L, "d080")]
    [InlineData(-129L, "d1ff7f")]
    [InlineData(-32768L, "d18000")]
    [InlineData(-32769L, "d2ffff7fff")]
    [InlineData(-2147483648L, "d280000000")]
    [InlineData(-2147483649L, "d3ffffffff7fffffff")]
    [InlineData(long.MinValue, "d38000000000000000")]
    public void IntegersUseTheSmallestFamilyAndRoundTripAsInt64(long value, string expectedHex)
    {
        byte[] encoded = Encode(value);
        Assert.Equal(expectedHex, Hex(encoded));
        Assert.Equal(value, Assert.IsType<long>(Decode(encoded)));
    }

    public static TheoryData<object, long> OtherIntegerTypes => new()
    {
        { (byte)255, 255 },
        { (sbyte)-128, -128 },
        { (short)-32768, -32768 },
        { (ushort)65535, 65535 },
        { int.MinValue, int.MinValue },
        { int.MaxValue, int.MaxValue },
        { uint.MaxValue, uint.MaxValue },
        { (ulong)long.MaxValue, long.MaxValue },
    };

    [Theory]
    [MemberData(nameof(OtherIntegerTypes))]
    public void EveryIntegerTypeDecodesAsInt64(object value, long expected)
        => Assert.Equal(expected, Assert.IsType<long>(RoundTrip(value)));

    [Fact]
    public void UInt64AboveInt64MaxIsRefusedBothWays()
    {
        var thrown = Assert.Throws<ArgumentException>(() => Encode(ulong.MaxValue, "traits.big"));
        Assert.Contains("traits.big", thrown.Message);

        byte[] wire = FromHex("cf8000000000000000"); // 2^63 as uint64
        Assert.Throws<InvalidDataException>(() => Decode(wire));
    }

    // ---- floats, bools, nil ----

    [Theory]
    [InlineData(0.0)]
    [InlineData(-1e-300)]
    [InlineData(1.5)]
    [InlineData(-123456.789)]
    [InlineData(double.MaxValue)]
    [InlineData(double.MinValue)]
    [InlineData(double.Epsilon)]
    [InlineData(double.PositiveInfinity)]
    [InlineData(double.NegativeInfinity)]
    [InlineData(double.NaN)]
    public void DoublesRoundTripAsFloat64(double value)
    {
        byte[] encoded = Encode(value);
        Assert.Equal(0xcb, encoded[0]);
        Assert.Equal(BitConverter.DoubleToInt64Bits(value), BitConverter.DoubleToInt64Bits(Assert.IsType<double>(Decode(encoded))));
    }

    [Fact]
    public void NegativeZeroKeepsItsSign()
        => Assert.True(double.IsNegative(Assert.IsType<double>(RoundTrip(-0.0))));

    [Fact]
    public void FloatsTravelAsFloat32AndDecodeAsDouble()
    {
        byte[] encoded = Encode(0.1f);
        Assert.Equal("ca3dcccccd", Hex(encoded));
        Assert.Equal((double)0.1f, Assert.IsType<double>(Decode(encoded)));
    }

    [Fact]
    public void BoolsAndNilRoundTrip()
    {
        Assert.Equal("c3", Hex(Encode(true)));
        Assert.Equal("c2", Hex(Encode(false)));
        Assert.Equal("c0", Hex(Encode(null)));
        Assert.Equal(true, RoundTrip(true));
        Assert.Equal(false, RoundTrip(false));
        Assert.Null(RoundTrip(null));
    }

    // ---- strings ----

    [Theory]
    [InlineData(0, "a0")]
    [InlineData(31, "bf")]
    [InlineData(32, "d920")]
    [InlineData(255, "d9ff")]
    [InlineData(256, "da0100")]
    [InlineData(65535, "daffff")]
    public void StringsUseTheSmallestHeaderAndRoundTrip(int length, string expectedHeaderHex)
    {
        string value = new('x', length);
        byte[] encoded = Encode(value);
        Assert.Equal(expectedHeaderHex, Hex(encoded.AsSpan(0, expectedHeaderHex.Length / 2)));
        Assert.Equal(encoded.Length, expectedHeaderHex.Length / 2 + length);
        Assert.Equal(value, RoundTrip(value));
    }

    [Fact]
    public void MultiByteStringsAreMeasuredInUtf8Bytes()
    {
        // "€" is 3 UTF-8 bytes: 21,845 of them are exactly 65,535 bytes, one more is too many.
        string atLimit = new('€', 21_845);
        Assert.Equal(atLimit, RoundTrip(atLimit));
        Assert.Equal("daffff", Hex(Encode(atLimit).AsSpan(0, 3)));

        var thrown = Assert.Throws<ArgumentException>(() => Encode(new string('€', 21_846), "traits.note"));
        Assert.Contains("traits.note", thrown.Message);
        Assert.Contains("65538", thrown.Message);
    }

    [Theory]
    [InlineData(65_536)]
    [InlineData(70_000)]
    public void StringsOver65535BytesAreRefused(int length)
    {
        var thrown = Assert.Throws<ArgumentException>(() => Encode(new string('a', length), "traits.essay"));
        Assert.Equal("traits.essay", thrown.ParamName);
    }

    [Fact]
    public void LongStringsAreRefusedInEveryRequestField()
    {
        string huge = new('a', 70_000);
        var ids = new Dictionary<string, string> { ["email"] = "a@b.c" };
        Assert.Throws<ArgumentException>(() => RequestEncoder.EncodeGetProfile("email", huge));
        Assert.Throws<ArgumentException>(() => RequestEncoder.EncodeIdentify(new IdentifyRequest { Identifiers = new Dictionary<string, string> { ["email"] = huge } }));
        Assert.Throws<ArgumentException>(() => RequestEncoder.EncodeIdentify(new IdentifyRequest { Identifiers = ids, MessageId = huge }));
        Assert.Throws<ArgumentException>(() => RequestEncoder.EncodeTrack(new TrackRequest { Identifiers = ids, Event = huge }));
        Assert.Throws<ArgumentException>(() => RequestEncoder.EncodeTrack(new TrackRequest { Identifiers = ids, Event = "e", Properties = new Dictionary<string, object?> { [huge] = 1 } }));
    }

    [Fact]
    public void UnicodeStringsRoundTrip()
    {
        const string value = "Grüße, 東京 🚀";
        Assert.Equal(value, RoundTrip(value));
    }

    // ---- timestamps ----

    [Fact]
    public void EpochIsTimestamp32()
    {
        byte[] encoded = Encode(DateTimeOffset.UnixEpoch);
        Assert.Equal("d6ff00000000", Hex(encoded));
        Assert.Equal(DateTimeOffset.UnixEpoch, RoundTrip(DateTimeOffset.UnixEpoch));
    }

    public static TheoryData<string, string> TimestampForms => new()
    {
        // Whole seconds up to 2^32-1 s: timestamp 32.
        { "2024-05-06T07:08:09Z", "d6ff" },
        { "2106-02-07T06:28:15Z", "d6ff" },
        // Whole seconds beyond 32 bits, or any fraction, up to 2^34-1 s: timestamp 64.
        { "2106-02-07T06:28:16Z", "d7ff" },
        { "2024-05-06T07:08:09.123Z", "d7ff" },
        { "1970-01-01T00:00:00.001Z", "d7ff" },
        { "2024-01-01T00:00:00.0000001Z", "d7ff" },
        { "2514-05-30T01:53:03Z", "d7ff" },
        // Before 1970 or after 2514: timestamp 96.
        { "2514-05-30T01:53:04Z", "c70cff" },
        { "2600-01-01T00:00:00Z", "c70cff" },
        { "2600-07-01T12:34:56.789Z", "c70cff" },
        { "1969-12-31T23:59:59Z", "c70cff" },
        { "1969-12-31T23:59:59.5Z", "c70cff" },
        { "1900-01-01T00:00:00.25Z", "c70cff" },
        { "0001-01-01T00:00:00Z", "c70cff" },
        { "9999-12-31T23:59:59.9999999Z", "c70cff" },
    };

    [Theory]
    [MemberData(nameof(TimestampForms))]
    public void TimestampsUseTheSmallestFormAndRoundTrip(string instant, string expectedPrefixHex)
    {
        var value = DateTimeOffset.Parse(instant, System.Globalization.CultureInfo.InvariantCulture);
        byte[] encoded = Encode(value);
        Assert.Equal(expectedPrefixHex, Hex(encoded.AsSpan(0, expectedPrefixHex.Length / 2)));
        var decoded = Assert.IsType<DateTimeOffset>(Decode(encoded));
        Assert.Equal(value.UtcTicks, decoded.UtcTicks);
        Assert.Equal(TimeSpan.Zero, decoded.Offset);
    }

    [Fact]
    public void PreEpochFractionsKeepNanosecondsPositive()
    {
        // -0.5 s is seconds = -1, nanoseconds = 500,000,000 (the spec forbids negative nanoseconds).
        byte[] encoded = Encode(DateTimeOffset.UnixEpoch.AddMilliseconds(-500));
        Assert.Equal("c70cff" + "1dcd6500" + "ffffffffffffffff", Hex(encoded));
    }

    [Fact]
    public void FractionalMillisecondsUseTimestamp64Layout()
    {
        // 2024-05-06T07:08:09.123Z: nanoseconds 123,000,000 in the top 30 bits, seconds in the low 34.
        var value = new DateTimeOffset(2024, 5, 6, 7, 8, 9, 123, TimeSpan.Zero);
        ulong packed = (123_000_000UL << 34) | (ulong)value.ToUnixTimeSeconds();
        Assert.Equal("d7ff" + packed.ToString("x16"), Hex(Encode(value)));
    }

    [Fact]
    public void OffsetsAndDateTimeKindsMapToTheSameInstant()
    {
        var local = new DateTimeOffset(2024, 5, 6, 9, 8, 9, TimeSpan.FromHours(2));
        var utc = new DateTimeOffset(2024, 5, 6, 7, 8, 9, TimeSpan.Zero);
        Assert.Equal(Hex(Encode(utc)), Hex(Encode(local)));
        Assert.Equal(Hex(Encode(utc)), Hex(Encode(utc.UtcDateTime)));
        // Unspecified kind is taken as UTC rather than guessing the machine's zone.
        Assert.Equal(Hex(Encode(utc)), Hex(Encode(DateTime.SpecifyKind(utc.UtcDateTime, DateTimeKind.Unspecified))));
        Assert.Equal(utc, RoundTrip(utc.UtcDateTime));
    }

    [Theory]
    [InlineData("d6ff0000")]                          // timestamp 32 cut short
    [InlineData("d5ff0000")]                          // fixext 2: no timestamp has 2 data bytes
    [InlineData("d7ffeeeeeeee00000000")]              // timestamp 64 with nanoseconds >= 10^9
    [InlineData("c70cff3b9aca000000000000000000")]    // timestamp 96 with nanoseconds = 10^9
    [InlineData("c70cff000000008000000000000000")]    // timestamp 96 at -2^63 s, long before year 1
    [InlineData("d6010000000000")]                    // extension type 1, not a timestamp
    public void InvalidTimestampsAreRefused(string hex)
        => Assert.Throws<InvalidDataException>(() => DecodeAsResponseTrait(FromHex(hex)));

    // ---- arrays ----

    [Fact]
    public void ArraysOfStringsRoundTripAsStringArrays()
    {
        Assert.Equal("90", Hex(Encode(Array.Empty<string>())));
        Assert.Equal(Array.Empty<string>(), RoundTrip(Array.Empty<string>()));
        Assert.Equal("92a161a162", Hex(Encode(new[] { "a", "b" })));
        Assert.Equal(new[] { "a", "b" }, RoundTrip(new List<string> { "a", "b" }));
        Assert.Equal(new[] { "x", "y" }, RoundTrip(new SortedSet<string> { "y", "x" }));
        Assert.Equal(new[] { "0", "1", "2" }, RoundTrip(Enumerable.Range(0, 3).Select(i => i.ToString())));
        string[] many = Enumerable.Range(0, 1024).Select(i => "v" + i).ToArray();
        Assert.Equal(many, RoundTrip(many));
    }

    [Fact]
    public void ArraysMayOnlyHoldStrings()
    {
        var thrown = Assert.Throws<ArgumentException>(() => Encode(new[] { "a", null! }, "traits.tags"));
        Assert.Contains("traits.tags[1]", thrown.Message);
        Assert.Throws<ArgumentException>(() => Encode(new[] { 1, 2 }, "traits.numbers"));
        Assert.Throws<InvalidDataException>(() => Decode(FromHex("920102"))); // [1, 2]
    }

    // ---- maps ----

    [Fact]
    public void NestedMapsRoundTrip()
    {
        var value = new Dictionary<string, object?>
        {
            ["name"] = "Ann",
            ["address"] = new Dictionary<string, object?>
            {
                ["city"] = "Kiel",
                ["zip"] = 24103L,
                ["geo"] = new Dictionary<string, object?> { ["lat"] = 54.32, ["lon"] = 10.13 },
                ["tags"] = new[] { "home" },
            },
            ["since"] = new DateTimeOffset(2019, 3, 1, 0, 0, 0, TimeSpan.Zero),
            ["vip"] = true,
            ["nothing"] = null,
            ["empty"] = new Dictionary<string, object?>(),
        };
        var decoded = Assert.IsType<Dictionary<string, object?>>(RoundTrip(value));
        AssertMapsEqual(value, decoded);
    }

    [Fact]
    public void ReadOnlyDictionariesAreMapsToo()
    {
        IReadOnlyDictionary<string, object?> value = new System.Collections.ObjectModel.ReadOnlyDictionary<string, object?>(
            new Dictionary<string, object?> { ["a"] = 1L });
        Assert.Equal("81a16101", Hex(Encode(value)));
    }

    [Fact]
    public void NestingIsLimitedToEightLevelsCountingTheBody()
    {
        Assert.IsType<Dictionary<string, object?>>(RoundTrip(Nest(8)));
        var thrown = Assert.Throws<ArgumentException>(() => Encode(Nest(9), "body"));
        Assert.Contains("body.k.k.k.k.k.k.k.k", thrown.Message);
        // The same rule guards the decoder.
        byte[] nine = FromHex(string.Concat(Enumerable.Repeat("81a16b", 9)) + "00");
        Assert.Throws<InvalidDataException>(() => Decode(nine));
    }

    [Fact]
    public void CyclicDictionariesAreRefusedNotOverflowed()
    {
        var cycle = new Dictionary<string, object?>();
        cycle["self"] = cycle;
        Assert.Throws<ArgumentException>(() => Encode(cycle, "traits"));
    }

    [Fact]
    public void TraitsInRequestsStartAtLevelTwo()
    {
        // body (1) > traits (2) > 6 maps inside it = 8 levels: allowed; one more is not.
        var ids = new Dictionary<string, string> { ["email"] = "a@b.c" };
        RequestEncoder.EncodeIdentify(new IdentifyRequest { Identifiers = ids, Traits = (Dictionary<string, object?>)Nest(7) });
        var thrown = Assert.Throws<ArgumentException>(() => RequestEncoder.EncodeIdentify(new IdentifyRequest { Identifiers = ids, Traits = (Dictionary<string, object?>)Nest(8) }));
        Assert.StartsWith("traits.k", thrown.ParamName);
    }

    // ---- unsupported types ----

    public static TheoryData<object> UnsupportedValues => new()
    {
        12.5m,
        Guid.Empty,
        'c',
        new object(),
        new[] { 1, 2 },
        new Dictionary<string, int> { ["a"] = 1 },
        new byte[] { 1 },
        TimeSpan.FromSeconds(1),
        DayOfWeek.Monday,
    };

    [Theory]
    [MemberData(nameof(UnsupportedValues))]
    public void UnsupportedTypesThrowArgumentExceptionNamingTheKey(object value)
    {
        var ids = new Dictionary<string, string> { ["email"] = "a@b.c" };
        var request = new IdentifyRequest
        {
            Identifiers = ids,
            Traits = new Dictionary<string, object?> { ["fine"] = 1, ["nested"] = new Dictionary<string, object?> { ["price"] = value } },
        };
        var thrown = Assert.Throws<ArgumentException>(() => RequestEncoder.EncodeIdentify(request));
        Assert.Equal("traits.nested.price", thrown.ParamName);
        Assert.Contains("traits.nested.price", thrown.Message);
        Assert.Contains(value.GetType().Name, thrown.Message);
    }

    // ---- request bodies ----

    [Fact]
    public void IdentifyBodyCarriesEveryFieldInOrder()
    {
        var at = new DateTimeOffset(2024, 1, 2, 3, 4, 5, 678, TimeSpan.Zero);
        byte[] body = RequestEncoder.EncodeIdentify(new IdentifyRequest
        {
            Identifiers = new Dictionary<string, string> { ["email"] = "ann@x.com", ["user_id"] = "u1" },
            Traits = new Dictionary<string, object?> { ["plan"] = "pro", ["seats"] = 5 },
            Timestamp = at,
            MessageId = "m-1",
        });
        var map = DecodeBody(body);
        Assert.Equal(["identifiers", "traits", "timestamp", "messageId"], map.Keys);
        Assert.Equal("u1", ((Dictionary<string, object?>)map["identifiers"]!)["user_id"]);
        Assert.Equal(5L, ((Dictionary<string, object?>)map["traits"]!)["seats"]);
        Assert.Equal(at, map["timestamp"]);
        Assert.Equal("m-1", map["messageId"]);
    }

    [Fact]
    public void OptionalFieldsAreLeftOutNotWrittenAsNil()
    {
        var ids = new Dictionary<string, string> { ["email"] = "ann@x.com" };
        Assert.Equal(["identifiers"], DecodeBody(RequestEncoder.EncodeIdentify(new IdentifyRequest { Identifiers = ids })).Keys);
        Assert.Equal(["identifiers", "event"], DecodeBody(RequestEncoder.EncodeTrack(new TrackRequest { Identifiers = ids, Event = "Signed Up" })).Keys);
        Assert.Equal(["type", "value"], DecodeBody(RequestEncoder.EncodeGetProfile("email", "ann@x.com")).Keys);
        Assert.Equal(["version"], DecodeBody(RequestEncoder.EncodeHello(1, null)).Keys);
    }

    [Fact]
    public void TrackAndGetProfileBodiesCarryEveryField()
    {
        var at = DateTimeOffset.UnixEpoch.AddDays(20000);
        var track = DecodeBody(RequestEncoder.EncodeTrack(new TrackRequest
        {
            Identifiers = new Dictionary<string, string> { ["anonymous_id"] = "a1" },
            Event = "Order Completed",
            Properties = new Dictionary<string, object?> { ["total"] = 99.5, ["items"] = new[] { "sku1", "sku2" } },
            Timestamp = at,
            MessageId = "m-2",
        }));
        Assert.Equal(["identifiers", "event", "properties", "timestamp", "messageId"], track.Keys);
        Assert.Equal("Order Completed", track["event"]);
        Assert.Equal(new[] { "sku1", "sku2" }, ((Dictionary<string, object?>)track["properties"]!)["items"]);

        var get = DecodeBody(RequestEncoder.EncodeGetProfile("email", "ann@x.com", ["plan", "seats"], "marketing"));
        Assert.Equal(["type", "value", "fields", "purpose"], get.Keys);
        Assert.Equal(new[] { "plan", "seats" }, get["fields"]);
    }

    [Fact]
    public void FramesFromEncodeAndFromSendPathAreIdentical()
    {
        byte[] body = RequestEncoder.EncodeGetProfile("email", "ann@x.com");
        Assert.Equal(FrameEncoder.EncodeGetProfile(77, "email", "ann@x.com"), FrameEncoder.EncodeFrame(Opcode.GetProfile, 77, body));
        byte[] frame = FrameEncoder.EncodeFrame(Opcode.GetProfile, 0, body);
        FrameEncoder.SetRequestId(frame, 0xdeadbeef);
        Assert.Equal(new FrameHeader(body.Length, Opcode.GetProfile, Status.Ok, 0, 0xdeadbeef), FrameHeader.Read(frame));
    }

    // ---- responses ----

    [Fact]
    public void ProfileResponseDecodes()
    {
        var created = new DateTimeOffset(2024, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var updated = created.AddMilliseconds(1234.5);
        byte[] body = Body((ref MessagePackWriter w) =>
        {
            w.WriteMapHeader(7);
            w.Write("id"); w.Write("p1");
            w.Write("identifiers"); w.WriteMapHeader(1); w.Write("email"); w.WriteArrayHeader(2); w.Write("a@x.com"); w.Write("b@x.com");
            w.Write("traits"); w.WriteMapHeader(3); w.Write("plan"); w.Write("pro"); w.Write("seats"); w.Write(5); w.Write("address.city"); w.Write("Kiel");
            w.Write("events"); w.WriteMapHeader(1); w.Write("Signed Up"); w.WriteMapHeader(3);
            w.Write("count"); w.Write(2); w.Write("first"); ValueEncoder.WriteTimestamp(ref w, created); w.Write("last"); ValueEncoder.WriteTimestamp(ref w, updated);
            w.Write("createdAt"); ValueEncoder.WriteTimestamp(ref w, created);
            w.Write("updatedAt"); ValueEncoder.WriteTimestamp(ref w, updated);
            w.Write("futureField"); w.WriteArrayHeader(1); w.Write(1); // unknown keys are skipped
        });
        Profile profile = ResponseDecoder.DecodeProfile(body);
        Assert.Equal("p1", profile.Id);
        Assert.Equal(new[] { "a@x.com", "b@x.com" }, profile.Identifiers["email"]);
        Assert.Equal("Kiel", profile.Traits["address.city"]);
        Assert.Equal(5L, profile.Traits["seats"]);
        Assert.Equal(new EventStats(2, created, updated), profile.Events["Signed Up"]);
        Assert.Equal((created, updated), (profile.CreatedAt, profile.UpdatedAt));
    }

    [Fact]
    public void WriteResultAndHelloDecode()
    {
        Assert.Equal(new WriteResult("p9", false, true), ResponseDecoder.DecodeWriteResult(Body((ref MessagePackWriter w) =>
        {
            w.WriteMapHeader(3); w.Write("id"); w.Write("p9"); w.Write("created"); w.Write(false); w.Write("duplicate"); w.Write(true);
        })));
        Assert.Equal(new HelloReply(1, "cdp/1", 2048), ResponseDecoder.DecodeHello(Body((ref MessagePackWriter w) =>
        {
            w.WriteMapHeader(3); w.Write("version"); w.Write(1); w.Write("server"); w.Write("cdp/1"); w.Write("maxBodyLength"); w.Write(2048);
        })));
    }

    [Theory]
    [InlineData("")]                        // empty
    [InlineData("81a26964")]                // truncated
    [InlineData("80")]                      // no id
    [InlineData("81a269640180")]            // id is an int
    [InlineData("81a26964a1780a")]          // trailing byte
    [InlineData("91a178")]                  // not a map
    public void MalformedResponsesThrowInvalidData(string hex)
        => Assert.Throws<InvalidDataException>(() => ResponseDecoder.DecodeWriteResult(FromHex(hex)));

    [Fact]
    public void ErrorBodiesDecodeAndUnreadableOnesStillYieldTheStatus()
    {
        byte[] body = Body((ref MessagePackWriter w) =>
        {
            w.WriteMapHeader(3); w.Write("code"); w.Write("identity_conflict"); w.Write("message"); w.Write("two profiles"); w.Write("field"); w.WriteNil();
        });
        CdpException conflict = ResponseDecoder.CreateException(Status.Conflict, body);
        Assert.Equal((Status.Conflict, "identity_conflict", "two profiles", (string?)null), (conflict.Status, conflict.Code, conflict.Message, conflict.Field));

        CdpException broken = ResponseDecoder.CreateException(Status.Unavailable, FromHex("83"));
        Assert.Equal((Status.Unavailable, ErrorCode.Unavailable), (broken.Status, broken.Code));
        CdpException empty = ResponseDecoder.CreateException(Status.InternalError, ReadOnlyMemory<byte>.Empty);
        Assert.Equal(ErrorCode.Internal, empty.Code);
    }

    // ---- frames ----

    [Fact]
    public void FrameDecoderWaitsForWholeFramesAndRejectsBrokenHeaders()
    {
        byte[] frame = FrameEncoder.EncodeGetProfile(9, "email", "ann@x.com");
        Assert.False(FrameDecoder.TryReadFrame(frame.AsSpan(0, 11), out _, out int needed));
        Assert.Equal(FrameHeader.Size, needed);
        Assert.False(FrameDecoder.TryReadFrame(frame.AsSpan(0, frame.Length - 1), out FrameHeader header, out needed));
        Assert.Equal((9u, frame.Length), (header.RequestId, needed));
        Assert.True(FrameDecoder.TryReadFrame(frame, out header, out needed));

        byte[] flagged = (byte[])frame.Clone();
        flagged[6] = 2;
        Assert.Throws<InvalidDataException>(() => FrameDecoder.TryReadFrame(flagged, out _, out _));
        // The push flag alone is the one flag a server may set.
        flagged[6] = 1;
        Assert.True(FrameDecoder.TryReadFrame(flagged, out header, out _));
        Assert.Equal(FrameHeader.PushFlag, header.Flags);
        byte[] huge = (byte[])frame.Clone();
        huge[3] = 0xff;
        Assert.Throws<InvalidDataException>(() => FrameDecoder.TryReadFrame(huge, out _, out _));
    }

    // ---- helpers ----

    static object Nest(int levels)
    {
        object? value = 1L;
        for (int i = 0; i < levels; i++)
            value = new Dictionary<string, object?> { ["k"] = value };
        return value!;
    }

    static void AssertMapsEqual(IDictionary<string, object?> expected, Dictionary<string, object?> actual)
    {
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (key, value) in expected)
        {
            switch (value)
            {
                case IDictionary<string, object?> nested:
                    AssertMapsEqual(nested, Assert.IsType<Dictionary<string, object?>>(actual[key]));
                    break;
                case string[] strings:
                    Assert.Equal(strings, Assert.IsType<string[]>(actual[key]));
                    break;
                case long or double or string or bool or DateTimeOffset or null:
                    Assert.Equal(value, actual[key]);
                    break;
                default:
                    throw new InvalidOperationException($"test value of type {value.GetType()}");
            }
        }
    }

    delegate void WriteBody(ref MessagePackWriter writer);

    static byte[] Body(WriteBody write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        var writer = new MessagePackWriter(buffer);
        write(ref writer);
        writer.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    static byte[] Encode(object? value, string path = "value")
        => Body((ref MessagePackWriter w) => ValueEncoder.WriteValue(ref w, value, path));

    static object? Decode(byte[] encoded)
    {
        var reader = new MessagePackReader(encoded);
        object? value = ValueDecoder.ReadValue(ref reader);
        Assert.True(reader.End, "bytes left after the value");
        return value;
    }

    static object? RoundTrip(object? value) => Decode(Encode(value));

    static Dictionary<string, object?> DecodeBody(byte[] body)
        => Assert.IsType<Dictionary<string, object?>>(Decode(body));

    // Wraps a value as the single trait of a profile response, to see how ResponseDecoder reports it.
    static Profile DecodeAsResponseTrait(byte[] value)
    {
        byte[] prefix = Body((ref MessagePackWriter w) =>
        {
            w.WriteMapHeader(2); w.Write("id"); w.Write("p"); w.Write("traits"); w.WriteMapHeader(1); w.Write("t");
        });
        return ResponseDecoder.DecodeProfile(prefix.Concat(value).ToArray());
    }

    static string Hex(ReadOnlySpan<byte> bytes) => Convert.ToHexString(bytes).ToLowerInvariant();

    static byte[] FromHex(string hex) => Convert.FromHexString(hex);
}
