using System.Numerics;

namespace Quota.Algorithms.Allocation;

/// <summary>One claimant on a shared capacity.</summary>
/// <param name="Demand">What it asks for; at least 0.</param>
/// <param name="Weight">Its relative share when capacity is short; positive and finite.</param>
/// <param name="Priority">Higher is served first: a class is only considered once every higher class is satisfied.</param>
public readonly record struct ShareRequest(long Demand, double Weight = 1.0, int Priority = 0);

/// <summary>
/// Weighted max-min fair allocation ("water filling") of an integer capacity.
/// </summary>
/// <remarks>
/// Guarantees, for every input: the allocations sum to at most the capacity; nobody gets more than it asked;
/// if anybody is left unsatisfied, the whole capacity is allocated (leftovers flow to whoever still wants);
/// within a priority class, an unsatisfied claimant gets at least as much per unit of weight as anybody in that
/// class, to within one unit of rounding; equal weights and equal demands get equal shares to within one unit
/// (exactly equal when the capacity divides evenly). Units that rounding leaves over go one at a time to whoever
/// is lowest per unit of weight with one more, ties to the lower index, so the result is deterministic. The
/// arithmetic is exact (each weight is taken at the exact value of its double), so this holds up to long.MaxValue.
/// </remarks>
public static class FairShare
{
    /// <summary>Allocates <paramref name="capacity"/> over <paramref name="requests"/>; one result per request, in order.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Capacity or a demand is negative, or a weight is not positive and finite.</exception>
    public static long[] Allocate(long capacity, ReadOnlySpan<ShareRequest> requests)
    {
        var result = new long[requests.Length];
        Allocate(capacity, requests, result);
        return result;
    }

    /// <summary>Allocates into <paramref name="allocations"/>, which must be as long as <paramref name="requests"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Capacity or a demand is negative, or a weight is not positive and finite.</exception>
    /// <exception cref="ArgumentException">The spans differ in length.</exception>
    public static void Allocate(long capacity, ReadOnlySpan<ShareRequest> requests, Span<long> allocations)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(capacity);
        if (allocations.Length != requests.Length)
        {
            throw new ArgumentException("There must be one allocation slot per request.", nameof(allocations));
        }

        for (var i = 0; i < requests.Length; i++)
        {
            var r = requests[i];
            if (r.Demand < 0)
            {
                throw new ArgumentOutOfRangeException(nameof(requests), r.Demand, $"requests[{i}].Demand must be at least 0.");
            }

            if (!double.IsFinite(r.Weight) || r.Weight <= 0)
            {
                throw new ArgumentOutOfRangeException(nameof(requests), r.Weight, $"requests[{i}].Weight must be positive and finite.");
            }

            allocations[i] = 0;
        }

        var left = capacity;
        foreach (var priority in DistinctPrioritiesDescending(requests))
        {
            if (left == 0)
            {
                break;
            }

            left -= FillClass(left, requests, allocations, priority);
        }
    }

    private static List<int> DistinctPrioritiesDescending(ReadOnlySpan<ShareRequest> requests)
    {
        var priorities = new List<int>();
        foreach (var r in requests)
        {
            if (!priorities.Contains(r.Priority))
            {
                priorities.Add(r.Priority);
            }
        }

        priorities.Sort((a, b) => b.CompareTo(a));
        return priorities;
    }

    /// <summary>Water-fills one priority class; returns what it allocated (at most <paramref name="capacity"/>).</summary>
    private static long FillClass(long capacity, ReadOnlySpan<ShareRequest> requests, Span<long> allocations, int priority)
    {
        var members = new List<int>();

        // Summed in 128 bits: a sum saturated at long.MaxValue would pass for "fits" when the capacity is
        // long.MaxValue, and everybody would get their full demand, more than the capacity in total.
        Int128 totalDemand = 0;
        for (var i = 0; i < requests.Length; i++)
        {
            if (requests[i].Priority == priority && requests[i].Demand > 0)
            {
                members.Add(i);
                totalDemand += requests[i].Demand;
            }
        }

        if (totalDemand <= capacity)
        {
            foreach (var i in members)
            {
                allocations[i] = requests[i].Demand;
            }

            return (long)totalDemand;
        }

        // Exact arithmetic from here on: with doubles, demands and capacities above 2^53 are rounded, and shares
        // that should be within one unit of each other came out hundreds apart. A finite double is an integer
        // times a power of two, so scaling every weight by the same power of two makes them exact integers.
        var weights = ExactWeights(requests, members);
        var demands = new long[members.Count];
        for (var k = 0; k < members.Count; k++)
        {
            demands[k] = requests[members[k]].Demand;
        }

        // Satisfy, smallest demand per unit of weight first, everyone whose demand fits under the current level:
        // demand / weight <= left / weightLeft. Members are in index order, so ties go to the lower index.
        var order = Enumerable.Range(0, members.Count).ToArray();
        Array.Sort(order, (a, b) =>
        {
            var c = (demands[a] * weights[b]).CompareTo(demands[b] * weights[a]);
            return c != 0 ? c : a.CompareTo(b);
        });

        var left = capacity;
        var weightLeft = BigInteger.Zero;
        foreach (var w in weights)
        {
            weightLeft += w;
        }

        var shares = new long[members.Count];
        var first = 0;
        while (first < order.Length)
        {
            var k = order[first];
            if (demands[k] * weightLeft > left * weights[k])
            {
                break;
            }

            shares[k] = demands[k];
            left -= demands[k];
            weightLeft -= weights[k];
            first++;
        }

        // The rest share what is left in proportion to weight: floors first (each below its demand, which is
        // above the level), then the units rounding left over, fewer than the claimants, one at a time to the
        // smallest (share + 1) / weight, ties to the lower index. That order keeps every unsatisfied claimant
        // within one unit of everybody per unit of weight; largest fraction first does not (capacity 2 over
        // weights 1 and 3: fractions tie at 0.5, and 1/1 leaves weight 3 at 2/3 even with one more unit).
        var spare = left;
        var next = new PriorityQueue<int, int>(order.Length - first, Comparer<int>.Create((a, b) =>
        {
            var c = ((shares[a] + BigInteger.One) * weights[b]).CompareTo((shares[b] + BigInteger.One) * weights[a]);
            return c != 0 ? c : a.CompareTo(b);
        }));
        for (var f = first; f < order.Length; f++)
        {
            var k = order[f];
            shares[k] = (long)(left * weights[k] / weightLeft);
            spare -= shares[k];
            next.Enqueue(k, k);
        }

        while (spare > 0 && next.TryDequeue(out var k, out _))
        {
            shares[k]++;
            spare--;
            if (shares[k] < demands[k])
            {
                next.Enqueue(k, k);
            }
        }

        for (var k = 0; k < members.Count; k++)
        {
            allocations[members[k]] = shares[k];
        }

        return capacity - spare;
    }

    /// <summary>
    /// The members' weights as exact integers in the same proportions: each finite double is mantissa × 2^exponent,
    /// so shifting every mantissa by its exponent above the smallest one loses nothing.
    /// </summary>
    private static BigInteger[] ExactWeights(ReadOnlySpan<ShareRequest> requests, List<int> members)
    {
        var mantissas = new long[members.Count];
        var exponents = new int[members.Count];
        var lowest = int.MaxValue;
        for (var k = 0; k < members.Count; k++)
        {
            var bits = BitConverter.DoubleToInt64Bits(requests[members[k]].Weight);
            var biased = (int)((bits >> 52) & 0x7FF);
            var mantissa = bits & 0xF_FFFF_FFFF_FFFF;

            // Normal numbers have an implicit leading 1; subnormals (biased exponent 0) use exponent 1.
            mantissas[k] = biased == 0 ? mantissa : mantissa | (1L << 52);
            exponents[k] = (biased == 0 ? 1 : biased) - 1075;
            lowest = Math.Min(lowest, exponents[k]);
        }

        var weights = new BigInteger[members.Count];
        for (var k = 0; k < members.Count; k++)
        {
            weights[k] = new BigInteger(mantissas[k]) << (exponents[k] - lowest);
        }

        return weights;
    }
}
