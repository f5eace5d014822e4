using Cdp.LoadTests;
using Cdp.LoadTests.Client;
using Cdp.LoadTests.Compare;
using Cdp.LoadTests.Driver;

if (args is ["compare" or "load", ..])
    InlineSocketCompletions.EnableUnlessConfigured();

// Reproducible first: the command as it would be typed, then what the process really got.
string command = CommandLineText.Format(args);
Console.WriteLine($"# command: {command}");
Console.WriteLine($"# process: {Environment.CommandLine}");
BuildCheck.WarnIfDebug();

const string Usage = """
    usage: dotnet run -c Release --project loadtests -- <command> [options]

    commands:
      compare   Cdp (binary and HTTP), Redis and Garnet side by side, rounds in alternation (--help for options)
      load      fill the selected targets with the same --profiles profiles, then stop
      lookup    one Cdp server through Cdp.Client: GetProfile by e-mail (--help for options)
      ping      one Cdp server through Cdp.Client: Ping only
    """;

return args.Length == 0 ? PrintUsage() : args[0] switch
{
    "compare" or "load" => await CompareCommand.RunAsync(args, command),
    "lookup" or "ping" => await ClientRunCommand.RunAsync(args, command),
    "--help" or "-h" or "help" => PrintUsage(),
    _ => PrintUsage($"Unknown command '{args[0]}'."),
};

static int PrintUsage(string? error = null)
{
    if (error is not null)
        Console.Error.WriteLine(error);
    Console.Error.WriteLine(Usage);
    return 2;
}
