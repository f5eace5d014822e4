using Cdp.LoadTests.Protocols;

namespace Cdp.LoadTests.Compare;

/// <summary>
/// One server endpoint to measure. <see cref="Store"/> names the data behind it: <c>cdp</c> and <c>cdp-http</c> are two
/// doors into the same Cdp server, so it is loaded once.
/// </summary>
internal sealed record Target(string Name, string Store, string Host, int Port, IWireProtocol Protocol)
{
    public static readonly IReadOnlyList<string> Names = ["cdp", "cdp-http", "redis", "garnet"];

    public string Endpoint => $"{Host}:{Port}";

    public static Target Create(string name, CompareOptions options) => name switch
    {
        "cdp" => new Target(name, "cdp", options.Host, options.CdpPort, new CdpBinaryProtocol()),
        "cdp-http" => new Target(name, "cdp", options.Host, options.CdpHttpPort, new CdpHttpProtocol(options.Host, options.CdpHttpPort)),
        "redis" => new Target(name, "redis", options.Host, options.RedisPort, new RespProtocol(name)),
        "garnet" => new Target(name, "garnet", options.Host, options.GarnetPort, new RespProtocol(name)),
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "Unknown target."),
    };
}
