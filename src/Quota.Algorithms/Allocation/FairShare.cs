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
/// is lowest per unit of weight with one more, ties to the lower index, so the result is deterministic.
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

        // Satisfy, smallest demand per unit of weight first, everyone whose demand fits under the current level.
        var perWeight = new Dictionary<int, double>(members.Count);
        foreach (var i in members)
        {
            perWeight[i] = requests[i].Demand / requests[i].Weight;
        }

        members.Sort((a, b) => perWeight[a] != perWeight[b] ? perWeight[a].CompareTo(perWeight[b]) : a.CompareTo(b));
        var left = capacity;
        var weightLeft = 0.0;
        foreach (var i in members)
        {
            weightLeft += requests[i].Weight;
        }

        var first = 0;
        while (first < members.Count)
        {
            var i = members[first];
            var level = left / weightLeft;

            // The exact check against what is left matters above 2^53, where the level is rounded and could
            // let a demand just above what is left pass.
            if (requests[i].Demand > left || requests[i].Demand > level * requests[i].Weight)
            {
                break;
            }

            allocations[i] = requests[i].Demand;
            left -= requests[i].Demand;
            weightLeft -= requests[i].Weight;
            first++;
        }

        // The rest share what is left in proportion to weight: floors first, then the units rounding left over,
        // one at a time, to the smallest (allocation + 1) / weight, ties to the lower index. That order keeps
        // every unsatisfied claimant within one unit of everybody per unit of weight; largest fraction first
        // does not (capacity 2 over weights 1 and 3: fractions tie at 0.5, and 1/1 leaves weight 3 at 2/3 even
        // with one more unit). Floating-point error is corrected so the invariants hold exactly.
        var unsatisfied = members.GetRange(first, members.Count - first);

        // 128 bits: above 2^53 rounded floors can sum to more than long.MaxValue before the correction below.
        Int128 floors = 0;
        foreach (var i in unsatisfied)
        {
            var exact = left * (requests[i].Weight / weightLeft);
            var floor = (long)Math.Min(Math.Floor(exact), requests[i].Demand);
            allocations[i] = floor;
            floors += floor;
        }

        for (var k = unsatisfied.Count - 1; floors > left && k >= 0; k--)
        {
            var take = (long)Int128.Min(allocations[unsatisfied[k]], floors - left);
            allocations[unsatisfied[k]] -= take;
            floors -= take;
        }

        var next = new PriorityQueue<int, (double PerWeight, int Index)>(unsatisfied.Count);
        foreach (var i in unsatisfied)
        {
            if (allocations[i] < requests[i].Demand)
            {
                next.Enqueue(i, ((allocations[i] + 1.0) / requests[i].Weight, i));
            }
        }

        var spare = (long)(left - floors);
        while (spare > 0 && next.TryDequeue(out var i, out _))
        {
            allocations[i]++;
            spare--;
            if (allocations[i] < requests[i].Demand)
            {
                next.Enqueue(i, ((allocations[i] + 1.0) / requests[i].Weight, i));
            }
        }

        return capacity - spare;
    }
}
