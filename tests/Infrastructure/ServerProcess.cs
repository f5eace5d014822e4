using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Cdp.Tests.Infrastructure;

/// <summary>
/// The real server as a separate process (the build output of src/Server), for tests that must kill
/// it without a graceful shutdown. Ports are read from its start-up log lines.
/// </summary>
public sealed partial class ServerProcess : IDisposable
{
    readonly Process process;
    readonly List<string> output = [];

    ServerProcess(Process process) => this.process = process;

    /// <summary>Bound HTTP port.</summary>
    public int HttpPort { get; private set; }
    /// <summary>Bound binary port.</summary>
    public int BinaryPort { get; private set; }
    /// <summary>Everything the process printed so far.</summary>
    public string Output { get { lock (output) return string.Join('\n', output); } }

    /// <summary>Starts the server on <paramref name="dataDir"/> and waits until both listeners are up.</summary>
    public static async Task<ServerProcess> StartAsync(string dataDir, int binaryPort = 0, params string[] extraArgs)
    {
        var dll = Path.Combine(ServerOutputDir(), "Cdp.Server.dll");
        var info = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = Path.GetDirectoryName(dll)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { dll, "--data-dir", dataDir, "--http-port", "0", "--binary-port", binaryPort.ToString() }.Concat(extraArgs))
            info.ArgumentList.Add(a);
        info.Environment["Logging__Console__FormatterName"] = "simple";
        var p = new ServerProcess(Process.Start(info)!);
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnLine(string? line)
        {
            if (line is null)
                return;
            lock (p.output)
                p.output.Add(line);
            var http = HttpLine().Match(line);
            if (http.Success)
                p.HttpPort = int.Parse(http.Groups[1].Value);
            var binary = BinaryLine().Match(line);
            if (binary.Success)
                p.BinaryPort = int.Parse(binary.Groups[1].Value);
            if (p.HttpPort != 0 && p.BinaryPort != 0)
                ready.TrySetResult();
        }
        p.process.OutputDataReceived += (_, e) => OnLine(e.Data);
        p.process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        p.process.BeginOutputReadLine();
        p.process.BeginErrorReadLine();
        var exited = p.process.WaitForExitAsync();
        var first = await Task.WhenAny(ready.Task, exited, Task.Delay(TimeSpan.FromSeconds(60)));
        if (first != ready.Task)
        {
            var log = p.Output;
            p.Dispose();
            throw new InvalidOperationException("the server did not start:\n" + log);
        }
        return p;
    }

    /// <summary>Kills the process at once: no checkpoint, no journal flush, no clean-up.</summary>
    public void Kill()
    {
        process.Kill(entireProcessTree: true);
        process.WaitForExit();
    }

    /// <summary>The build output folder of src/Server for the configuration these tests were built in.</summary>
    static string ServerOutputDir()
    {
        var testDir = AppContext.BaseDirectory; // .../tests/bin/<Configuration>/net10.0/
        var framework = new DirectoryInfo(testDir.TrimEnd(Path.DirectorySeparatorChar));
        var configuration = framework.Parent!.Name;
        var root = framework.Parent.Parent!.Parent!.Parent!.FullName;
        var dir = Path.Combine(root, "src", "Server", "bin", configuration, framework.Name);
        if (!File.Exists(Path.Combine(dir, "Cdp.Server.dll")))
            throw new FileNotFoundException($"build src/Server ({configuration}) first: {dir} has no Cdp.Server.dll");
        return dir;
    }

    [GeneratedRegex(@"HTTP listening on http://[^:]+:(\d+)")]
    private static partial Regex HttpLine();

    [GeneratedRegex(@"binary protocol listening on [^:]+:(\d+)")]
    private static partial Regex BinaryLine();

    /// <inheritdoc />
    public void Dispose()
    {
        if (!process.HasExited)
            Kill();
        process.Dispose();
    }
}
