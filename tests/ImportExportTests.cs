using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Cdp.Server.Import;
using Cdp.Tests.Infrastructure;
using Xunit;

namespace Cdp.Tests;

/// <summary>
/// Bulk import and export through the real server: every good row applied, every bad row reported
/// with its line and reason and nothing of it stored, exports that hold every profile once.
/// </summary>
public sealed class ImportExportTests
{
    static readonly (string, string)[] Settings =
    [
        ("Traits:Declared:age", "number"),
        ("Traits:Declared:vip", "bool"),
        ("ComputedTraits:orders:Function", "count"),
        ("ComputedTraits:orders:Event", "Order Completed"),
        ("MaxFrameBodyBytes", "2048"),
        ("Journal:PageBytes", "16384"),
        ("Journal:MemoryBytes", "65536"),
    ];

    static async Task<JsonElement> Import(TestServer s, string body, string query, HttpStatusCode expected = HttpStatusCode.OK)
    {
        using var content = new StringContent(body, Encoding.UTF8, query.Contains("csv") ? "text/csv" : "application/x-ndjson");
        using var r = await s.Http.PostAsync("/v1/import" + query, content);
        Assert.Equal(expected, r.StatusCode);
        return (await r.Content.ReadFromJsonAsync<JsonElement>()).Clone();
    }

    [Fact]
    public async Task An_ndjson_file_with_5_percent_bad_rows_applies_every_good_row_and_reports_every_bad_one_with_its_line()
    {
        await using var s = await TestServer.StartAsync(null, Settings);
        var lines = new List<string>();
        var bad = new Dictionary<int, string>();   // line number -> expected code
        string[] badRows =
        [
            "{not json",
            "{\"type\":\"track\",\"userId\":\"bad-{0}\",\"properties\":{\"a\":1}}",                        // no event
            "{\"type\":\"group\",\"userId\":\"bad-{0}\"}",                                                   // unsupported type
            "{\"type\":\"identify\",\"traits\":{\"plan\":\"x\"}}",                                          // no identifier
            "{\"type\":\"identify\",\"userId\":\"bad-{0}\",\"traits\":{\"plan\":\"gold\",\"age\":\"old\"}}", // wrong declared type
            "{\"type\":\"track\",\"event\":\"Order Completed\",\"userId\":\"bad-{0}\",\"timestamp\":\"yesterday\"}",
            "{\"type\":\"identify\",\"userId\":\"bad-{0}\",\"traits\":{\"name\":\"" + new string('x', 2100) + "\"}}", // row too long
            "[1,2,3]",
            "{\"userId\":\"bad-{0}\"}",                                                                      // no type
            "{\"type\":\"identify\",\"userId\":\"bad-{0}\",\"traits\":{\"vip\":\"yes\"}}",
        ];
        string[] codes = ["malformed", "missing_field", "unknown_field", "no_identifier", "wrong_type", "invalid_timestamp", "too_long", "missing_field", "missing_field", "wrong_type"];
        int good = 0;
        for (int i = 0; i < 1000; i++)
        {
            int line = lines.Count + 1;
            if (i % 20 == 7)
            {
                int k = (i / 20) % badRows.Length;
                lines.Add(badRows[k].Replace("{0}", i.ToString()));
                bad[line] = codes[k];
                continue;
            }
            good++;
            lines.Add(i % 2 == 0
                ? $"{{\"type\":\"identify\",\"userId\":\"u{i}\",\"traits\":{{\"age\":{i},\"vip\":true}},\"messageId\":\"m{i}\"}}"
                : $"{{\"type\":\"track\",\"event\":\"Order Completed\",\"userId\":\"u{i - 1}\",\"properties\":{{\"n\":{i}}}}}");
            if (i % 100 == 50)
                lines.Add("");   // blank lines are not rows
        }
        long tail = s.Engine.Journal.TailAddress;
        var job = await Import(s, string.Join("\n", lines), "?format=ndjson&job=five-percent");

        Assert.Equal("Completed", job.GetProperty("state").GetString());
        Assert.Equal(950, good);
        Assert.Equal(good, job.GetProperty("applied").GetInt64());
        Assert.Equal(50, job.GetProperty("rejected").GetInt64());
        var rejected = job.GetProperty("rejectedRows").EnumerateArray().ToArray();
        Assert.Equal(bad.Keys.Order(), rejected.Select(r => (int)r.GetProperty("line").GetInt64()));
        foreach (var r in rejected)
            Assert.Equal(bad[(int)r.GetProperty("line").GetInt64()], r.GetProperty("code").GetString());
        Assert.Contains(rejected, r => r.GetProperty("field").GetString() == "traits.age");

        // Nothing of a bad row was stored: no profile of its identifiers, one journal entry per good row.
        for (int i = 7; i < 1000; i += 20)
        {
            using var get = await s.Http.GetAsync($"/v1/profiles/user_id/bad-{i}");
            Assert.Equal(HttpStatusCode.NotFound, get.StatusCode);
        }
        Assert.Equal(good, s.Engine.Journal.Read(tail, s.Engine.Journal.TailAddress).Count());
        var p = await s.Http.GetFromJsonAsync<JsonElement>("/v1/profiles/user_id/u0");
        Assert.Equal(0, p.GetProperty("traits").GetProperty("age").GetInt64());
        Assert.Equal(1, p.GetProperty("computed").GetProperty("orders").GetInt64());

        // The finished job stays readable; re-importing the identifies only finds duplicates.
        var again = await s.Http.GetFromJsonAsync<JsonElement>("/v1/jobs/five-percent");
        Assert.Equal(good, again.GetProperty("applied").GetInt64());
        var second = await Import(s, string.Join("\n", lines.Where(l => l.Contains("messageId"))), "");
        Assert.Equal(500, second.GetProperty("duplicates").GetInt64());
        Assert.Equal(0, second.GetProperty("applied").GetInt64());
    }

    [Fact]
    public async Task A_csv_import_maps_columns_handles_quoting_and_counts_lines_of_multiline_rows()
    {
        await using var s = await TestServer.StartAsync(null, Settings);
        var csv = string.Join("\r\n",
            "E-Mail,first_name,age,vip,Notes,timestamp",
            "ann@x.com,\"Ann, \"\"the first\"\"\",41,true,ignored,2026-01-01T00:00:00Z",
            "bob@x.com,\"Bob",
            "Builder\",38,false,,",
            "cy@x.com,Cy,forty,true,,",              // line 5: age not a number
            "dee@x.com,Dee,30",                       // line 6: too few fields
            "eve@x.com,\"Eve\"x,30,true,,",          // line 7: text after a closing quote
            "fay@x.com,Fay,,,,not-a-time",           // line 8: bad timestamp
            "gus@x.com,Gus,,,,",
            "");
        var job = await Import(s, csv, "?format=csv&mapping=E-Mail:email,Notes:-");
        Assert.Equal(3, job.GetProperty("applied").GetInt64());
        var rejected = job.GetProperty("rejectedRows").EnumerateArray()
            .Select(r => (r.GetProperty("line").GetInt64(), r.GetProperty("code").GetString())).ToArray();
        Assert.Equal([(5L, "wrong_type"), (6L, "malformed"), (7L, "malformed"), (8L, "invalid_timestamp")], rejected);

        var ann = (await s.Http.GetFromJsonAsync<JsonElement>("/v1/profiles/email/ann@x.com")).GetProperty("traits");
        Assert.Equal("Ann, \"the first\"", ann.GetProperty("first_name").GetString());
        Assert.Equal(41, ann.GetProperty("age").GetInt64());
        Assert.True(ann.GetProperty("vip").GetBoolean());
        Assert.False(ann.TryGetProperty("Notes", out _));
        var bob = (await s.Http.GetFromJsonAsync<JsonElement>("/v1/profiles/email/bob@x.com")).GetProperty("traits");
        Assert.Equal("Bob\r\nBuilder", bob.GetProperty("first_name").GetString());
        using var cy = await s.Http.GetAsync("/v1/profiles/email/cy@x.com");
        Assert.Equal(HttpStatusCode.NotFound, cy.StatusCode);
    }

    [Theory]
    [InlineData("first_name,age\nAnn,3\n", "no_identifier")]
    [InlineData("email,email\na@x.com,b@x.com\n", "duplicate_key")]
    [InlineData("email,,x\na@x.com,1,2\n", "malformed")]
    [InlineData("", "missing_field")]
    public async Task A_csv_without_a_usable_header_is_refused_and_applies_nothing(string csv, string code)
    {
        await using var s = await TestServer.StartAsync(null, Settings);
        long tail = s.Engine.Journal.TailAddress;
        var problem = await Import(s, csv, "?format=csv", HttpStatusCode.BadRequest);
        Assert.Equal(code, problem.GetProperty("code").GetString());
        Assert.Equal(tail, s.Engine.Journal.TailAddress);
    }

    [Fact]
    public async Task Bad_import_requests_are_refused_clearly()
    {
        await using var s = await TestServer.StartAsync(null, Settings);
        Assert.Equal("out_of_range", (await Import(s, "", "?format=xml", HttpStatusCode.BadRequest)).GetProperty("code").GetString());
        Assert.Equal("unknown_field", (await Import(s, "", "?format=ndjson&mapping=a:b", HttpStatusCode.BadRequest)).GetProperty("code").GetString());
        Assert.Equal("malformed", (await Import(s, "", "?job=no%20spaces", HttpStatusCode.BadRequest)).GetProperty("code").GetString());
        await Import(s, "", "?job=j1");
        Assert.Equal("duplicate_key", (await Import(s, "", "?job=j1", HttpStatusCode.Conflict)).GetProperty("code").GetString());
        using var missing = await s.Http.GetAsync("/v1/jobs/nope");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task Exports_hold_every_profile_once_in_ndjson_and_in_csv_that_reads_back()
    {
        await using var s = await TestServer.StartAsync(null, Settings);
        var rows = Enumerable.Range(0, 300).Select(i =>
            $"{{\"type\":\"identify\",\"userId\":\"u{i}\",\"traits\":{{\"email\":\"p{i}@x.com\",\"age\":{i},\"note\":\"a, \\\"b\\\"\\nc\"}}}}");
        await Import(s, string.Join("\n", rows), "");
        await Import(s, "{\"type\":\"track\",\"event\":\"Order Completed\",\"userId\":\"u5\"}", "");

        var ndjson = await s.Http.GetStringAsync("/v1/export");
        var profiles = ndjson.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToArray();
        Assert.Equal(300, profiles.Length);
        Assert.Equal(300, profiles.Select(p => p.GetProperty("id").GetString()).Distinct().Count());
        var u5 = profiles.Single(p => p.GetProperty("identifiers").GetProperty("user_id")[0].GetString() == "u5");
        Assert.Equal(1, u5.GetProperty("computed").GetProperty("orders").GetInt64());

        var csv = await s.Http.GetByteArrayAsync("/v1/export?format=csv");
        var records = SplitCsv(csv);
        var header = records[0];
        Assert.Equal("id", header[0]);
        Assert.Contains("computed.orders", header);
        Assert.Equal(301, records.Count);
        int user = header.IndexOf("user_id"), email = header.IndexOf("email"), age = header.IndexOf("traits.age"), note = header.IndexOf("traits.note");
        var row = records.Single(r => r[user] == "u7");
        Assert.Equal("p7@x.com", row[email]);
        Assert.Equal("7", row[age]);
        Assert.Equal("a, \"b\"\nc", row[note]);

        var some = SplitCsv(await s.Http.GetByteArrayAsync("/v1/export?format=csv&fields=age"))[0];
        Assert.DoesNotContain("traits.note", some);
        Assert.Contains("traits.age", some);

        // The CSV export reads back into another server: same traits, nothing extra.
        await using var other = await TestServer.StartAsync(null, Settings);
        var back = await Import(other, Encoding.UTF8.GetString(csv), "?format=csv");
        Assert.Equal(300, back.GetProperty("applied").GetInt64());
        var p7 = (await other.Http.GetFromJsonAsync<JsonElement>("/v1/profiles/user_id/u7")).GetProperty("traits");
        Assert.Equal("a, \"b\"\nc", p7.GetProperty("note").GetString());
        Assert.Equal("p7@x.com", p7.GetProperty("email").GetString());
        Assert.False(p7.TryGetProperty("id", out _));
        Assert.False(p7.TryGetProperty("createdAt", out _));
    }

    [Fact]
    public async Task Rows_of_one_person_are_applied_in_file_order_even_without_timestamps()
    {
        await using var s = await TestServer.StartAsync(null, Settings);
        // Without timestamps the later row wins by arrival, so order is visible in the result.
        var rows = new List<string>();
        for (int round = 0; round < 5; round++)
            for (int u = 0; u < 200; u++)
                rows.Add(u % 2 == 0
                    ? $"{{\"type\":\"identify\",\"userId\":\"u{u}\",\"traits\":{{\"round\":{round}}}}}"
                    : $"{{\"type\":\"identify\",\"context\":{{\"traits\":{{\"email\":\"p{u}@x.com\"}}}},\"traits\":{{\"round\":{round}}}}}");
        await Import(s, string.Join("\n", rows), "");
        for (int u = 0; u < 200; u += 7)
        {
            var path = u % 2 == 0 ? $"user_id/u{u}" : $"email/p{u}@x.com";
            var p = await s.Http.GetFromJsonAsync<JsonElement>("/v1/profiles/" + path);
            Assert.Equal(4, p.GetProperty("traits").GetProperty("round").GetInt64());
        }

        var csv = new StringBuilder("email,round\n");
        for (int round = 0; round < 5; round++)
            for (int u = 0; u < 100; u++)
                csv.Append($"c{u}@x.com,{round}\n");
        await Import(s, csv.ToString(), "?format=csv");
        for (int u = 0; u < 100; u += 9)
            Assert.Equal("4", (await s.Http.GetFromJsonAsync<JsonElement>($"/v1/profiles/email/c{u}@x.com")).GetProperty("traits").GetProperty("round").GetString());
    }

    [Theory]
    [InlineData("{\"type\":\"track\",\"anonymousId\":\"a1\",\"userId\":\"u1\"}", "u1")]
    [InlineData("{\"type\":\"track\",\"anonymousId\":\"a1\",\"context\":{\"traits\":{\"email\":\"e@x\"}}}", "a1")]
    [InlineData("{\"type\":\"identify\",\"traits\":{\"email\":\"e@x\"},\"properties\":{\"userId\":\"nested\"}}", "e@x")]
    [InlineData("{\"type\":\"identify\",\"identifiers\":{\"account\":\"A-1\",\"device\":\"d\"}}", "A-1")]
    [InlineData("{\"type\":\"identify\"}", "")]
    [InlineData("{not json", "{not json")]
    public void Ndjson_rows_are_routed_by_userId_then_anonymousId_then_email_then_identifiers(string row, string key)
        => Assert.Equal(key, Encoding.UTF8.GetString(RowPartition.JsonKey(Encoding.UTF8.GetBytes(row))));

    [Fact]
    public async Task A_stray_quote_costs_its_own_row_only_and_a_byte_order_mark_is_not_part_of_the_header()
    {
        await using var s = await TestServer.StartAsync(null, Settings);
        var csv = "\uFEFFemail,height\na@x.com,5'11\"\nb@x.com,6'0\"\nc@x.com,\"6'2\"\"\"\n";
        var job = await Import(s, csv, "?format=csv");
        Assert.Equal(1, job.GetProperty("applied").GetInt64());
        var rejected = job.GetProperty("rejectedRows").EnumerateArray().Select(r => r.GetProperty("line").GetInt64()).ToArray();
        Assert.Equal([2L, 3L], rejected);
        Assert.Equal("6'2\"", (await s.Http.GetFromJsonAsync<JsonElement>("/v1/profiles/email/c@x.com")).GetProperty("traits").GetProperty("height").GetString());
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(300)]
    [InlineData(5000)]
    public async Task Results_do_not_depend_on_how_the_upload_arrives(int chunk)
    {
        await using var s = await TestServer.StartAsync(null, Settings);
        var ndjson = string.Join("\n",
            "{\"type\":\"identify\",\"userId\":\"a\"}",
            "{\"type\":\"identify\",\"userId\":\"b\",\"traits\":{\"x\":\"" + new string('x', 3000) + "\"}}",
            "bad",
            "",
            "{\"type\":\"identify\",\"userId\":\"c\",\"traits\":{\"x\":\"" + new string('y', 5000) + "\"}}",
            "{\"type\":\"identify\",\"userId\":\"d\"}",
            "bad again");
        var csv = "email,note\r\ne@x.com,\"two\r\nlines\"\r\nf@x.com,1,2\r\n\"" + new string('z', 3000) + "\r\nstill\",x\r\ng@x.com,ok";
        foreach (var (format, body, expected) in new[]
        {
            ("ndjson", ndjson, new[] { (2L, "too_long"), (3L, "malformed"), (5L, "too_long"), (7L, "malformed") }),
            ("csv", csv, new[] { (4L, "malformed"), (5L, "too_long") }),
        })
        {
            var job = new ImportJob("t-" + format + chunk, format, DateTimeOffset.UnixEpoch);
            var reader = System.IO.Pipelines.PipeReader.Create(new ChunkedStream(Encoding.UTF8.GetBytes(body), chunk));
            await ImportRunner.RunAsync(s.Engine, job, reader, null, CancellationToken.None);
            Assert.Equal(expected, job.RejectedRows.Select(r => (r.Line, r.Code)).ToArray());
        }
    }

    /// <summary>A stream that hands out at most <c>chunk</c> bytes per read, like a slow upload.</summary>
    sealed class ChunkedStream(byte[] data, int chunk) : MemoryStream(data)
    {
        public override int Read(byte[] buffer, int offset, int count) => base.Read(buffer, offset, Math.Min(count, chunk));
        public override int Read(Span<byte> buffer) => base.Read(buffer[..Math.Min(buffer.Length, chunk)]);
        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => base.ReadAsync(buffer, offset, Math.Min(count, chunk), cancellationToken);
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => base.ReadAsync(buffer[..Math.Min(buffer.Length, chunk)], cancellationToken);
    }

    /// <summary>Splits CSV bytes into records with the server's own reader (rows may span lines).</summary>
    static List<List<string>> SplitCsv(byte[] bytes)
    {
        var result = new List<List<string>>();
        var pending = new List<byte>();
        foreach (var line in Encoding.UTF8.GetString(bytes).Split("\r\n"))
        {
            if (pending.Count > 0)
                pending.AddRange("\r\n"u8.ToArray());
            pending.AddRange(Encoding.UTF8.GetBytes(line));
            if (!CsvRecord.IsComplete(pending.ToArray()))
                continue;
            if (pending.Count > 0)
            {
                var fields = new List<string>();
                Assert.Null(CsvRecord.TryParse(pending.ToArray(), fields));
                result.Add(fields);
            }
            pending.Clear();
        }
        return result;
    }
}
