namespace Cdp.LoadTests.Workload;

/// <summary>
/// Draws ranks 0..n-1 with P(rank k) proportional to 1/(k+1)^theta, by the constant-time method of Gray et al.,
/// "Quickly Generating Billion-Record Synthetic Databases" (SIGMOD 1994), the one YCSB uses. Rank 0 is the hottest.
/// </summary>
/// <remarks>The method needs 0 &lt; theta &lt; 1; YCSB's default and ours is 0.99.</remarks>
internal sealed class ZipfianSampler
{
    private readonly int count;
    private readonly double theta;
    private readonly double zetaN;
    private readonly double alpha;
    private readonly double eta;

    public ZipfianSampler(int count, double theta)
    {
        if (count < 1)
            throw new ArgumentOutOfRangeException(nameof(count), count, "At least one item is needed.");
        if (theta is <= 0 or >= 1)
            throw new ArgumentOutOfRangeException(nameof(theta), theta, "Theta must lie strictly between 0 and 1.");
        this.count = count;
        this.theta = theta;
        zetaN = Zeta(count, theta);
        double zeta2 = Zeta(Math.Min(count, 2), theta);
        alpha = 1 / (1 - theta);
        eta = count <= 2 ? 1 : (1 - Math.Pow(2.0 / count, 1 - theta)) / (1 - zeta2 / zetaN);
    }

    public int Next(Random random)
    {
        double u = random.NextDouble();
        double uz = u * zetaN;
        if (uz < 1)
            return 0;
        if (count > 1 && uz < 1 + Math.Pow(0.5, theta))
            return 1;
        int rank = (int)(count * Math.Pow(eta * u - eta + 1, alpha));
        return Math.Clamp(rank, 0, count - 1);
    }

    private static double Zeta(int n, double theta)
    {
        double sum = 0;
        for (int i = 1; i <= n; i++)
            sum += 1 / Math.Pow(i, theta);
        return sum;
    }
}
