namespace Cdp.LoadTests.Workload;

/// <summary>The event the track operation records, the same on every target.</summary>
internal static class SampleEvent
{
    public const string Name = "Product Viewed";

    public static string Sku(int key) => "SKU-" + key % 1000;

    public const double Price = 19.99;
}
