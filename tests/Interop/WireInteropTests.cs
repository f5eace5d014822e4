using System.Diagnostics;
using System.Text.Json;
using Cdp.Protocol;
using Cdp.Tests.Infrastructure;
using MessagePack;
using Xunit;
using static Cdp.Tests.Infrastructure.RawConnection;

namespace Cdp.Tests.Interop;

/// <summary>
/// Checks the bodies on the wire against an independent MessagePack implementation (Debian's
/// python3-msgpack, installed by scripts/install-test-deps.sh), in both directions: python packs a
/// request full of edge values, the real server stores it, and python unpacks the server's
/// GetProfile reply and compares every value with what it sent.
/// </summary>
public sealed class WireInteropTests
{
    [Fact]
    public async Task Edge_values_packed_by_python_come_back_intact_when_python_unpacks_the_reply()
    {
        await using var server = await TestServer.StartAsync(settings: ("Store:MaxProfileBytes", "262144"));
        using var connection = await ConnectAsync(server.BinaryPort);
        var request = Convert.FromHexString(Python("build", null).Trim());

        var (status, body, _) = await connection.RequestAsync(Opcode.Identify, request);
        if (status != Status.Ok)
            Assert.Fail($"{status}: {Error(body)}");

        var get = Body((ref MessagePackWriter w) => { w.WriteMapHeader(2); w.Write("type"); w.Write("email"); w.Write("value"); w.Write("interop@x.com"); });
        (status, body, _) = await connection.RequestAsync(Opcode.GetProfile, get);
        Assert.Equal(Status.Ok, status);
        Assert.Equal("OK", Python("check", Convert.ToHexString(body)).Trim());
    }

    [Fact]
    public async Task Hello_write_and_error_replies_decode_in_python_as_documented()
    {
        await using var server = await TestServer.StartAsync();
        using var connection = await ConnectAsync(server.BinaryPort, hello: false);

        var (_, hello, _) = await connection.RequestAsync(Opcode.Hello, Body((ref MessagePackWriter w) => { w.WriteMapHeader(2); w.Write("version"); w.Write(1); w.Write("client"); w.Write("py"); }));
        using (var doc = JsonDocument.Parse(Python("decode", Convert.ToHexString(hello))))
        {
            Assert.Equal(1, doc.RootElement.GetProperty("version").GetInt32());
            Assert.Equal(ProtocolLimits.DefaultMaxBodyLength, doc.RootElement.GetProperty("maxBodyLength").GetInt32());
            Assert.StartsWith("cdp/", doc.RootElement.GetProperty("server").GetString());
        }

        var identify = Body((ref MessagePackWriter w) =>
        {
            w.WriteMapHeader(2);
            w.Write("identifiers"); w.WriteMapHeader(1); w.Write("user_id"); w.Write("py-1");
            w.Write("messageId"); w.Write("py-m1");
        });
        var (_, result, _) = await connection.RequestAsync(Opcode.Identify, identify);
        using (var doc = JsonDocument.Parse(Python("decode", Convert.ToHexString(result))))
        {
            Assert.Equal("1", doc.RootElement.GetProperty("id").GetString());
            Assert.True(doc.RootElement.GetProperty("created").GetBoolean());
            Assert.False(doc.RootElement.GetProperty("duplicate").GetBoolean());
        }

        var (status, error, _) = await connection.RequestAsync(Opcode.Track, identify);
        Assert.Equal(Status.BadRequest, status);
        using (var doc = JsonDocument.Parse(Python("decode", Convert.ToHexString(error))))
        {
            Assert.Equal("missing_field", doc.RootElement.GetProperty("code").GetString());
            Assert.Equal("event", doc.RootElement.GetProperty("field").GetString());
        }
    }

    [Fact]
    public async Task Timestamps_use_the_documented_encodings()
    {
        await using var server = await TestServer.StartAsync();
        using var connection = await ConnectAsync(server.BinaryPort);
        var request = Body((ref MessagePackWriter w) =>
        {
            w.WriteMapHeader(2);
            w.Write("identifiers"); w.WriteMapHeader(1); w.Write("user_id"); w.Write("ts");
            w.Write("traits"); w.WriteMapHeader(3);
            w.Write("whole"); w.Write(new DateTime(2026, 11, 22, 10, 0, 0, DateTimeKind.Utc));
            w.Write("fraction"); w.Write(new DateTime(2026, 11, 22, 10, 0, 0, 250, DateTimeKind.Utc));
            w.Write("old"); w.Write(new DateTime(1969, 7, 20, 20, 17, 0, DateTimeKind.Utc));
        });
        Assert.Equal(Status.Ok, (await connection.RequestAsync(Opcode.Identify, request)).Status);
        var (_, body, _) = await connection.RequestAsync(Opcode.GetProfile, Body((ref MessagePackWriter w) => { w.WriteMapHeader(3); w.Write("type"); w.Write("user_id"); w.Write("value"); w.Write("ts"); w.Write("fields"); w.WriteArrayHeader(3); w.Write("whole"); w.Write("fraction"); w.Write("old"); }));
        var hex = Convert.ToHexString(body).ToLowerInvariant();
        // Raw encodings: timestamp 32 (d6 ff), timestamp 64 (d7 ff), timestamp 96 (c7 0c ff).
        Assert.Contains("a5" + "77686f6c65" + "d6ff", hex);
        Assert.Contains("a8" + "6672616374696f6e" + "d7ff", hex);
        Assert.Contains("a3" + "6f6c64" + "c70cff", hex);
        using var doc = JsonDocument.Parse(Python("decode", hex));
        var traits = doc.RootElement.GetProperty("traits");
        Assert.Equal(new DateTimeOffset(2026, 11, 22, 10, 0, 0, TimeSpan.Zero).ToUnixTimeSeconds(), traits.GetProperty("whole")[0].GetInt64());
        Assert.Equal(250_000_000, traits.GetProperty("fraction")[1].GetInt64());
        Assert.Equal(new DateTimeOffset(1969, 7, 20, 20, 17, 0, TimeSpan.Zero).ToUnixTimeSeconds(), traits.GetProperty("old")[0].GetInt64());
    }

    static string Python(string mode, string? stdin)
    {
        var script = Path.Combine(AppContext.BaseDirectory, "Interop", "msgpack_interop.py");
        var info = new ProcessStartInfo("/usr/bin/python3")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(script);
        info.ArgumentList.Add(mode);
        using var p = Process.Start(info)!;
        if (stdin is not null)
            p.StandardInput.Write(stdin);
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        p.WaitForExit();
        if (p.ExitCode != 0)
            Assert.Fail($"python3 {mode} failed ({p.ExitCode}): {stdout.Result}{stderr.Result} — is python3-msgpack installed (scripts/install-test-deps.sh)?");
        return stdout.Result;
    }
}
