namespace Cdp.Server.Computed;

/// <summary>What a computed trait aggregates over the events it selects.</summary>
public enum ComputedFunction : byte
{
    /// <summary>Number of events.</summary>
    Count = 1,
    /// <summary>Sum of a numeric property.</summary>
    Sum = 2,
    /// <summary>Smallest value of a numeric property.</summary>
    Min = 3,
    /// <summary>Largest value of a numeric property.</summary>
    Max = 4,
    /// <summary>Mean of a numeric property.</summary>
    Average = 5,
    /// <summary>The property's value (or the event's time) of the earliest event.</summary>
    First = 6,
    /// <summary>The property's value (or the event's time) of the latest event.</summary>
    Last = 7,
    /// <summary>Number of distinct values of a property.</summary>
    DistinctCount = 8,
    /// <summary>The property value seen most often (ties: the smallest value).</summary>
    MostFrequent = 9,
}

/// <summary>Names of <see cref="ComputedFunction"/> in configuration.</summary>
public static class ComputedFunctionNames
{
    /// <summary>Parses a configured function name; false when it names none.</summary>
    public static bool TryParse(string name, out ComputedFunction function)
    {
        function = name.Trim().ToLowerInvariant().Replace("-", "_") switch
        {
            "count" => ComputedFunction.Count,
            "sum" => ComputedFunction.Sum,
            "min" => ComputedFunction.Min,
            "max" => ComputedFunction.Max,
            "average" or "avg" => ComputedFunction.Average,
            "first" => ComputedFunction.First,
            "last" => ComputedFunction.Last,
            "distinct_count" or "distinctcount" => ComputedFunction.DistinctCount,
            "most_frequent" or "mostfrequent" => ComputedFunction.MostFrequent,
            _ => 0,
        };
        return function != 0;
    }

    /// <summary>Whether the function needs a property to aggregate.</summary>
    public static bool NeedsProperty(this ComputedFunction f)
        => f is ComputedFunction.Sum or ComputedFunction.Min or ComputedFunction.Max or ComputedFunction.Average
            or ComputedFunction.DistinctCount or ComputedFunction.MostFrequent;

    /// <summary>Whether each cell is keyed by a property value as well as by its bucket.</summary>
    public static bool IsKeyedByValue(this ComputedFunction f) => f is ComputedFunction.DistinctCount or ComputedFunction.MostFrequent;

    /// <summary>Whether the function only aggregates numbers (other values of the property are ignored).</summary>
    public static bool IsNumeric(this ComputedFunction f)
        => f is ComputedFunction.Sum or ComputedFunction.Min or ComputedFunction.Max or ComputedFunction.Average;
}
