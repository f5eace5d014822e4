namespace Cdp.LoadTests.Workload;

/// <summary>What one measured request does, whatever the target's protocol.</summary>
internal enum Operation : byte
{
    /// <summary>Read the whole profile of one e-mail address.</summary>
    Lookup,
    /// <summary>Record one event on the profile of one e-mail address.</summary>
    Track,
}
