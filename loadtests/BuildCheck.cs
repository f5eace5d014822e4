using System.Diagnostics;
using System.Reflection;

namespace Cdp.LoadTests;

/// <summary>Says so loudly when the harness itself was built in Debug: its own CPU cost would distort every figure.</summary>
internal static class BuildCheck
{
    public static bool IsDebug
        => Assembly.GetExecutingAssembly().GetCustomAttribute<DebuggableAttribute>()?.IsJITOptimizerDisabled == true;

    public static void WarnIfDebug()
    {
        if (IsDebug)
            Console.WriteLine("# WARNING: Debug build; numbers are not representative. Use -c Release.");
    }
}
