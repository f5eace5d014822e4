using System.Reflection;
using BenchmarkDotNet.Attributes;
using Cdp.Bench;
using Xunit;

namespace Cdp.Tests;

/// <summary>
/// The zero-allocation guard: every benchmark in bench/ marked <see cref="ZeroAllocationAttribute"/>
/// is set up as BenchmarkDotNet would, warmed up past tiered compilation, then run many times while
/// the thread's allocation counter is watched. Any byte allocated fails the build.
/// </summary>
public sealed class ZeroAllocationTests
{
    public static TheoryData<string> Benchmarks()
    {
        var data = new TheoryData<string>();
        foreach (var method in ZeroAllocationMethods())
            data.Add(method.DeclaringType!.Name + "." + method.Name);
        return data;
    }

    static IEnumerable<MethodInfo> ZeroAllocationMethods()
        => typeof(ZeroAllocationAttribute).Assembly.GetTypes()
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Instance))
            .Where(m => m.GetCustomAttribute<ZeroAllocationAttribute>() is not null);

    [Fact]
    public void The_hot_paths_are_listed()
    {
        var names = ZeroAllocationMethods().Select(m => m.DeclaringType!.Name + "." + m.Name).ToHashSet();
        Assert.Contains("LookupBenchmarks.GetProfileByEmail", names);
        Assert.Contains("RecordBenchmarks.MergeDelta", names);
    }

    [Theory]
    [MemberData(nameof(Benchmarks))]
    public void Benchmark_allocates_nothing_per_operation(string name)
    {
        var method = ZeroAllocationMethods().Single(m => m.DeclaringType!.Name + "." + m.Name == name);
        var type = method.DeclaringType!;
        var instance = Activator.CreateInstance(type)!;
        Invoke<GlobalSetupAttribute>(type, instance);
        try
        {
            // A delegate per shape, so the loop itself allocates nothing (MethodInfo.Invoke would box).
            Action run = method.ReturnType == typeof(void)
                ? method.CreateDelegate<Action>(instance)
                : method.ReturnType == typeof(int)
                    ? Wrap(method.CreateDelegate<Func<int>>(instance))
                    : throw new InvalidOperationException($"{name}: zero-allocation benchmarks return void or int");

            // Warm up past tier-0 and on-stack replacement, so the JIT's own work is not counted.
            for (int i = 0; i < 3_000; i++)
                run();
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 2_000; i++)
                run();
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.True(allocated == 0, $"{name} allocated {allocated} bytes over 2,000 invocations");
        }
        finally
        {
            Invoke<GlobalCleanupAttribute>(type, instance);
        }
    }

    static Action Wrap(Func<int> f)
    {
        int sink = 0;
        return () => sink ^= f();
    }

    static void Invoke<TAttribute>(Type type, object instance) where TAttribute : Attribute
    {
        foreach (var m in type.GetMethods().Where(m => m.GetCustomAttribute<TAttribute>() is not null))
            m.Invoke(instance, null);
    }
}
