using BenchmarkDotNet.Running;

// dotnet run -c Release --project bench -- --filter '*'          (all benchmarks)
// dotnet run -c Release --project bench -- --filter '*Lookup*'   (one class)
BenchmarkSwitcher.FromAssembly(typeof(Cdp.Bench.LookupBenchmarks).Assembly).Run(args);
