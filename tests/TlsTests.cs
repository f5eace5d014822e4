using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Cdp.Client;
using Cdp.Tests.Infrastructure;
using Xunit;

namespace Cdp.Tests;

/// <summary>
/// With a certificate configured, both listeners speak TLS: HTTPS answers, the binary client works
/// over TLS, and a plain-text client gets nothing served.
/// </summary>
public sealed class TlsTests
{
    static (string Path, X509Certificate2 Certificate) MakeCertificate(string dir)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("localhost");
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        var path = Path.Combine(dir, "server.pfx");
        File.WriteAllBytes(path, certificate.Export(X509ContentType.Pfx, "pw"));
        return (path, X509CertificateLoader.LoadCertificate(certificate.Export(X509ContentType.Cert)));
    }

    [Fact]
    public async Task Both_listeners_speak_tls_with_a_configured_certificate()
    {
        var dir = TestServer.NewDataDir();
        var certDir = TestServer.NewDataDir();
        try
        {
            var (path, certificate) = MakeCertificate(certDir);
            await using var s = await TestServer.StartAsync(null, dir, ("Tls:CertificatePath", path), ("Tls:CertificatePassword", "pw"));
            // Trust exactly this certificate, as a client pinning it would.
            bool Pinned(X509Certificate? c) => c is not null && c.GetCertHashString() == certificate.GetCertHashString();

            using var handler = new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, c, _, _) => Pinned(c) };
            using var https = new HttpClient(handler) { BaseAddress = new Uri($"https://localhost:{s.HttpPort}") };
            using (var r = await https.PostAsJsonAsync("/v1/identify", new { userId = "t1", traits = new { plan = "pro" } }))
                Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            await Assert.ThrowsAnyAsync<HttpRequestException>(() => new HttpClient().GetAsync($"http://127.0.0.1:{s.HttpPort}/health"));

            await using var client = await CdpClient.ConnectAsync(new CdpClientOptions
            {
                Port = s.BinaryPort,
                UseTls = true,
                TlsHost = "localhost",
                RemoteCertificateValidation = (_, c, _, _) => Pinned(c),
            });
            Assert.Equal("pro", (await client.GetProfileAsync("user_id", "t1"))!.Traits["plan"]);

            // A client that does not trust the certificate fails the handshake.
            await Assert.ThrowsAsync<CdpConnectionException>(() => CdpClient.ConnectAsync(new CdpClientOptions { Port = s.BinaryPort, UseTls = true, TlsHost = "localhost" }));
            // Plain text on the TLS port gets nothing served.
            await Assert.ThrowsAnyAsync<Exception>(async () =>
            {
                await using var plain = await CdpClient.ConnectAsync(new CdpClientOptions { Port = s.BinaryPort, ConnectTimeout = TimeSpan.FromSeconds(3) });
                await plain.PingAsync();
            });
        }
        finally
        {
            TestServer.TryDelete(dir);
            TestServer.TryDelete(certDir);
        }
    }

    [Fact]
    public async Task An_unreadable_certificate_stops_the_start()
    {
        var e = await Assert.ThrowsAnyAsync<Exception>(() => TestServer.StartAsync(null, null, ("Tls:CertificatePath", "/nonexistent/server.pfx")));
        Assert.Contains("Tls:CertificatePath", e.Message);
    }
}
