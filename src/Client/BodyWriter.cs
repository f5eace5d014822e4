using MessagePack;

namespace Cdp.Client;

/// <summary>Writes a request body from <paramref name="state"/>; lets frames be built without closures or intermediate buffers.</summary>
/// <typeparam name="TState">What the body is made from.</typeparam>
public delegate void BodyWriter<in TState>(ref MessagePackWriter writer, TState state);
