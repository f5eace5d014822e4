using System.Net;
using Cdp.Server.Binary;
using Cdp.Server.Engine;
using Cdp.Server.Http;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Cdp.Server.Hosting;

/// <summary>
/// Composition root: the HTTP facade on Kestrel and the binary protocol, both over one
/// <see cref="ProfileEngine"/>. The binary protocol is served by a <see cref="SocketBinaryListener"/>
/// (<c>Cdp:BinaryTransport=socket</c>) or by a <see cref="BinaryConnectionHandler"/> on a second Kestrel
/// listener (<c>kestrel</c>). Used by <c>Program</c> and by tests that run the server in-process.
/// </summary>
public sealed class CdpServer : IAsyncDisposable
{
    /// <summary>Command-line switches and the configuration keys they set.</summary>
    public static readonly Dictionary<string, string> SwitchMappings = new()
    {
        ["--data-dir"] = "Cdp:DataDir",
        ["--http-port"] = "Cdp:HttpPort",
        ["--binary-port"] = "Cdp:BinaryPort",
        ["--bind"] = "Cdp:BindAddress",
        ["--config"] = "Cdp:ConfigFile",
    };

    readonly WebApplication app;
    readonly ListenOptions httpListen;
    // Exactly one of these serves the binary port.
    readonly ListenOptions? binaryListen;
    readonly SocketBinaryListener? socketListener;

    CdpServer(WebApplication app, ListenOptions httpListen, ListenOptions? binaryListen, SocketBinaryListener? socketListener)
    {
        this.app = app;
        this.httpListen = httpListen;
        this.binaryListen = binaryListen;
        this.socketListener = socketListener;
    }

    /// <summary>The engine.</summary>
    public ProfileEngine Engine => app.Services.GetRequiredService<ProfileEngine>();

    /// <summary>Bound HTTP port (after start).</summary>
    public int HttpPort => httpListen.IPEndPoint!.Port;

    /// <summary>Bound binary port (after start).</summary>
    public int BinaryPort => socketListener?.EndPoint.Port ?? binaryListen!.IPEndPoint!.Port;

    /// <summary>The addresses the listeners are bound to (after start).</summary>
    public (IPAddress Http, IPAddress Binary) BoundAddresses
        => (httpListen.IPEndPoint!.Address, socketListener?.EndPoint.Address ?? binaryListen!.IPEndPoint!.Address);

    /// <summary>Builds and starts a server from command-line arguments (and the usual configuration sources).</summary>
    public static async Task<CdpServer> StartAsync(string[] args, Action<ILoggingBuilder>? logging = null, TimeProvider? time = null)
    {
        // appsettings.json ships next to the binary; relative paths (the data folder) stay relative to
        // the directory the server was started from.
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.AddCommandLine(args, SwitchMappings);
        var configFile = builder.Configuration["Cdp:ConfigFile"];
        if (!string.IsNullOrEmpty(configFile))
        {
            if (!File.Exists(configFile))
                throw new InvalidOperationException($"Configuration error: --config file '{configFile}' does not exist.");
            builder.Configuration.AddJsonFile(Path.GetFullPath(configFile), optional: false);
            // Command-line options win over the config file.
            builder.Configuration.AddCommandLine(args, SwitchMappings);
        }
        var options = new CdpOptions();
        builder.Configuration.GetSection("Cdp").Bind(options);
        options.Validate();
        // Timestamps, so a latency spike can be matched to a checkpoint or a commit failure.
        builder.Logging.AddSimpleConsole(o => o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fff ");
        if (logging is not null)
            logging(builder.Logging);

        var bind = IPAddress.Parse(options.BindAddress);
        // Without keys anyone who can connect can read and write everything: only this machine may.
        bool openAccess = options.ApiKeys.Count == 0;
        if (openAccess && !IPAddress.IsLoopback(bind))
            bind = bind.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? IPAddress.IPv6Loopback : IPAddress.Loopback;
        ListenOptions? httpListen = null, binaryListen = null;
        System.Security.Cryptography.X509Certificates.X509Certificate2? certificate = null;
        if (options.Tls.Enabled)
        {
            try
            {
                certificate = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadPkcs12FromFile(options.Tls.CertificatePath, options.Tls.CertificatePassword);
            }
            catch (Exception e) when (e is System.Security.Cryptography.CryptographicException or IOException or UnauthorizedAccessException)
            {
                throw new InvalidOperationException($"Configuration error: Tls:CertificatePath '{options.Tls.CertificatePath}' cannot be loaded: {e.Message}", e);
            }
            if (!certificate.HasPrivateKey)
                throw new InvalidOperationException($"Configuration error: Tls:CertificatePath '{options.Tls.CertificatePath}' holds no private key.");
        }
        // The socket loop speaks plain TCP; TLS needs Kestrel's connection pipeline.
        bool binaryOnKestrel = options.BinaryTransport == "kestrel" || certificate is not null;
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = options.MaxFrameBodyBytes;
            k.AddServerHeader = false;
            k.Listen(bind, options.HttpPort, l =>
            {
                httpListen = l;
                if (certificate is not null)
                    l.UseHttps(certificate);
            });
            if (binaryOnKestrel)
                k.Listen(bind, options.BinaryPort, l =>
                {
                    binaryListen = l;
                    if (certificate is not null)
                        l.UseHttps(certificate);
                    l.UseConnectionHandler<BinaryConnectionHandler>();
                });
        });
        builder.Services.AddSingleton(time ?? TimeProvider.System);
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(sp => new Cdp.Server.Import.ImportJobRegistry(sp.GetRequiredService<TimeProvider>()));
        builder.Services.AddSingleton(sp => ProfileEngine.Open(options, sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILoggerFactory>().CreateLogger("Cdp.Engine")));
        builder.Services.AddProblemDetails();
        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull);

        var app = builder.Build();
        // Open the engine (recovery) before any listener accepts a connection.
        var engine = app.Services.GetRequiredService<ProfileEngine>();
        // Anything unexpected still answers as ProblemDetails (500, code "internal"), never a bare page.
        app.UseExceptionHandler(new ExceptionHandlerOptions
        {
            StatusCodeSelector = _ => 500,
        });
        app.UseStatusCodePages();
        app.Use(new ApiKeyMiddleware(engine).InvokeAsync);
        HttpEndpoints.Map(app);
        Cdp.Server.Http.BulkEndpoints.Map(app);
        Cdp.Server.Http.SegmentEndpoints.Map(app);
        Cdp.Server.Http.ConsentEndpoints.Map(app);
        Cdp.Server.Http.AdminEndpoints.Map(app);
        await app.StartAsync();
        SocketBinaryListener? socketListener = null;
        if (!binaryOnKestrel)
        {
            try
            {
                socketListener = new SocketBinaryListener(engine, new IPEndPoint(bind, options.BinaryPort),
                    app.Services.GetRequiredService<ILogger<SocketBinaryListener>>());
            }
            catch
            {
                // The port is taken (or the address is not ours): stop the host, which closes the engine.
                await app.StopAsync();
                await app.DisposeAsync();
                throw;
            }
            socketListener.Start();
            // Stop reading as soon as the host is asked to stop (SIGTERM), as the Kestrel handler does.
            var listener = socketListener;
            app.Lifetime.ApplicationStopping.Register(() => _ = listener.StopAsync());
        }
        var server = new CdpServer(app, httpListen!, binaryListen, socketListener);
        var log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Cdp");
        log.LogInformation("Cdp data folder {DataDir} ({Replayed} journal entries replayed).", engine.DataDir, engine.ReplayedEntries);
        if (openAccess)
            log.LogWarning("No API keys are configured (Cdp:ApiKeys): every request is allowed, so both listeners are bound to {Loopback} only{Ignored}.",
                bind, IPAddress.IsLoopback(IPAddress.Parse(options.BindAddress)) ? "" : $" (BindAddress {options.BindAddress} is ignored)");
        else
            log.LogInformation("API keys configured: {Keys}.", string.Join(", ", engine.Access.Names));
        log.LogInformation("Cdp HTTP listening on {Scheme}://{Address}:{Port}", certificate is null ? "http" : "https", bind, server.HttpPort);
        log.LogInformation("Cdp binary protocol listening on {Address}:{Port}{Tls}", bind, server.BinaryPort, certificate is null ? "" : " (TLS)");
        return server;
    }

    /// <summary>Completes when the host is asked to stop (SIGTERM, Ctrl-C).</summary>
    public Task WaitForShutdownAsync() => app.WaitForShutdownAsync();

    /// <summary>Stops the listeners (closing binary connections), then checkpoints and closes the engine.</summary>
    public async ValueTask DisposeAsync()
    {
        // The socket listener is not part of the host: stop it before the host disposes the engine.
        if (socketListener is not null)
            await socketListener.DisposeAsync();
        await app.StopAsync();
        await app.DisposeAsync();
    }
}
