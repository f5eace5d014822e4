using BenchmarkDotNet.Running;

// dotnet run -c Release --project bench -- --filter '*'          (all benchmarks)
// dotnet run -c Release --project bench -- --filter '*Lookup*'   (one class)
// dotnet run -c Release --project bench -- profile-size [N]      (bytes per typical living profile)
// dotnet run -c Release --project bench -- track-timing [N]      (thread CPU per track write, parse + engine)
if (args.Length > 0 && args[0] == "profile-size")
{
    Cdp.Bench.ProfileSizeReport.Run(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 10_000);
    return;
}
if (args.Length > 0 && args[0] == "import-timing")
{
    Cdp.Bench.ImportTiming.Run(int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture));
    return;
}
if (args.Length > 0 && args[0] == "track-timing")
{
    Cdp.Bench.TrackTiming.Run(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 100_000);
    return;
}
if (args.Length > 0 && args[0] == "commit-timing")
{
    Cdp.Bench.CommitTiming.Run(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 2000,
        args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 250);
    return;
}
BenchmarkSwitcher.FromAssembly(typeof(Cdp.Bench.LookupBenchmarks).Assembly).Run(args);
