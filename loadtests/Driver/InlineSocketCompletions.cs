namespace Cdp.LoadTests.Driver;

/// <summary>
/// Runs socket continuations on the runtime's epoll thread instead of handing each one to the thread pool. For this
/// driver — tiny continuations that copy bytes and issue the next read — that halves the harness's CPU per request
/// and, at 50 connections x 1, more than doubles what it can drive on two cores; on a machine the harness shares
/// with the servers, less harness CPU means more left for the server being measured.
/// </summary>
internal static class InlineSocketCompletions
{
    private const string Variable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    public static bool Enabled => Environment.GetEnvironmentVariable(Variable) == "1";

    /// <summary>
    /// Turns them on unless the environment already decided (set the variable to 0 to compare). Must run before the
    /// first socket is created: the runtime reads the variable once, when its socket engine starts.
    /// </summary>
    public static void EnableUnlessConfigured()
    {
        if (Environment.GetEnvironmentVariable(Variable) is null)
            Environment.SetEnvironmentVariable(Variable, "1");
    }

    public static string Describe() => Enabled
        ? $"socket continuations inline on the epoll thread ({Variable}=1)"
        : $"socket continuations on the thread pool ({Variable} is not 1)";
}
