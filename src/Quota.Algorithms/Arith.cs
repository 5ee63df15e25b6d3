namespace Quota.Algorithms;

/// <summary>Integer helpers for 128-bit intermediate products; results saturate to <see cref="long.MaxValue"/>.</summary>
internal static class Arith
{
    /// <summary>floor(a / b) for a &gt;= 0, b &gt; 0, saturated to long.</summary>
    public static long FloorDiv(Int128 a, long b)
    {
        if (a <= 0)
        {
            return 0;
        }

        // Fast path: most values fit in 64 bits and hardware division is far cheaper than Int128's.
        if (a <= long.MaxValue)
        {
            return (long)a / b;
        }

        var q = a / b;
        return q > long.MaxValue ? long.MaxValue : (long)q;
    }

    /// <summary>ceil(a / b) for a &gt;= 0, b &gt; 0, saturated to long.</summary>
    public static long CeilDiv(Int128 a, long b)
    {
        if (a <= 0)
        {
            return 0;
        }

        if (a <= long.MaxValue)
        {
            var la = (long)a;
            var q = la / b;
            return q * b == la ? q : q + 1;
        }

        var q128 = a / b;
        if (q128 * b != a)
        {
            q128++;
        }

        return q128 > long.MaxValue ? long.MaxValue : (long)q128;
    }
}
