using CsCheck;
using Quota.Algorithms.Allocation;

namespace Quota.Algorithms.Tests.Allocation;

/// <summary>Weighted max-min fair share: textbook cases and the guarantees of <see cref="FairShare"/> as properties.</summary>
public sealed class FairShareTests
{
    private static long[] Allocate(long capacity, params ShareRequest[] requests) => FairShare.Allocate(capacity, requests);

    [Fact]
    public void SmallDemandsAreMetAndTheRestGoesToTheLargeOne()
    {
        Assert.Equal([60, 50, 10], Allocate(120, new(1000), new(50), new(10)));
    }

    [Fact]
    public void SaturatingDemandsAreSplitInProportionToWeight()
    {
        Assert.Equal([200, 100, 100], Allocate(400, new(1000, 2), new(1000, 1), new(1000, 1)));
    }

    [Fact]
    public void ALowDemandClaimantGetsAllItAsksAndTheRestFlowsToTheOthers()
    {
        // Weights 2:1:1 would give 200/100/100; the first wants only 30, so 370 flow on and split 1:1.
        Assert.Equal([30, 185, 185], Allocate(400, new(30, 2), new(1000, 1), new(1000, 1)));

        // A claimant whose demand is below its equal share keeps exactly its demand; the remainder is split.
        Assert.Equal([5, 48, 47], Allocate(100, new(5), new(1000), new(1000)));
    }

    [Fact]
    public void WhenEverybodyFitsEverybodyGetsTheirDemand()
    {
        Assert.Equal([10, 20, 0, 30], Allocate(100, new(10), new(20), new(0), new(30)));
        Assert.Equal([10, 20, 30], Allocate(60, new(10), new(20), new(30)));
    }

    [Fact]
    public void AHigherPriorityClassIsSatisfiedFirst()
    {
        // Class 1 wants 70 of 100 and gets it; class 0 shares the remaining 30.
        Assert.Equal([15, 70, 15], Allocate(100, new(1000, 1, 0), new(70, 1, 1), new(1000, 1, 0)));

        // Class 1 wants more than everything: class 0 gets nothing.
        Assert.Equal([0, 60, 40], Allocate(100, new(1000, 1, 0), new(1000, 3, 5), new(1000, 2, 5)));

        // Negative priorities are lower still.
        Assert.Equal([10, 0, 90], Allocate(100, new(10, 1, 0), new(50, 1, -1), new(90, 1, 2)));
    }

    [Fact]
    public void RoundingLeftoversGoToTheLargestFractionsThenTheLowerIndex()
    {
        Assert.Equal([4, 3, 3], Allocate(10, new(100), new(100), new(100)));
        Assert.Equal([1, 1, 0], Allocate(2, new(100), new(100), new(100)));

        // 11 split 1:2 is 3.67 / 7.33: the first has the larger fraction.
        Assert.Equal([4, 7], Allocate(11, new(100, 1), new(100, 2)));
    }

    [Fact]
    public void NothingToShareOrNobodyToShareWith()
    {
        Assert.Equal([0, 0], Allocate(0, new(10), new(20)));
        Assert.Empty(Allocate(100));
    }

    [Fact]
    public void ExtremeValuesKeepTheInvariants()
    {
        Assert.Equal([long.MaxValue / 2, long.MaxValue / 2 + 1], Allocate(long.MaxValue, new(long.MaxValue / 2), new(long.MaxValue)));
        var split = Allocate(long.MaxValue, new(long.MaxValue), new(long.MaxValue));
        Assert.Equal(long.MaxValue, (Int128)split[0] + split[1]);
        Assert.InRange(Math.Abs(split[0] - split[1]), 0, 1);

        // Above 2^53 the water level is rounded; a demand one above the capacity must still not be met.
        Assert.Equal([(1L << 60) + 1], Allocate((1L << 60) + 1, new ShareRequest((1L << 60) + 2)));
        var close = Allocate((1L << 60) + 1, new(1), new((1L << 60) + 2));
        Assert.Equal((1L << 60) + 1, (Int128)close[0] + close[1]);
    }

    [Fact]
    public void InvalidInputsAreRejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Allocate(-1, new ShareRequest(10)));
        Assert.Throws<ArgumentOutOfRangeException>(() => Allocate(10, new ShareRequest(-1)));
        Assert.Throws<ArgumentOutOfRangeException>(() => Allocate(10, new ShareRequest(10, 0)));
        Assert.Throws<ArgumentOutOfRangeException>(() => Allocate(10, new ShareRequest(10, -1)));
        Assert.Throws<ArgumentOutOfRangeException>(() => Allocate(10, new ShareRequest(10, double.NaN)));
        Assert.Throws<ArgumentOutOfRangeException>(() => Allocate(10, new ShareRequest(10, double.PositiveInfinity)));
        Assert.Throws<ArgumentException>(() => FairShare.Allocate(10, [new(10)], new long[2]));
    }

    private static readonly Gen<ShareRequest> Request =
        Gen.Select(
            Gen.Frequency((6, Gen.Long[0, 200]), (2, Gen.Long[0, 5]), (1, Gen.Long[0, long.MaxValue / 4])),
            Gen.Int[1, 5],
            Gen.Frequency((4, Gen.Const(0)), (1, Gen.Int[-1, 2])),
            (demand, weight, priority) => new ShareRequest(demand, weight, priority));

    private static readonly Gen<(long Capacity, ShareRequest[] Requests)> Input =
        Gen.Select(Gen.Frequency((6, Gen.Long[0, 600]), (1, Gen.Long[0, long.MaxValue])), Request.Array[0, 8]);

    [Fact]
    public void TheAllocationNeverExceedsCapacityOrDemandAndLeavesNothingUnusedWhileSomebodyWantsMore()
    {
        Input.Sample((capacity, requests) =>
        {
            var allocation = FairShare.Allocate(capacity, requests);
            var sum = (Int128)0;
            var unsatisfied = false;
            for (var i = 0; i < requests.Length; i++)
            {
                Assert.InRange(allocation[i], 0, requests[i].Demand);
                sum += allocation[i];
                unsatisfied |= allocation[i] < requests[i].Demand;
            }

            Assert.True(sum <= capacity);
            if (unsatisfied)
            {
                Assert.Equal(capacity, sum);
            }
        }, iter: 2_000);
    }

    [Fact]
    public void AClassGetsNothingUntilEveryHigherClassIsSatisfied()
    {
        Input.Sample((capacity, requests) =>
        {
            var allocation = FairShare.Allocate(capacity, requests);
            for (var i = 0; i < requests.Length; i++)
            {
                for (var j = 0; j < requests.Length; j++)
                {
                    if (requests[j].Priority > requests[i].Priority && allocation[j] < requests[j].Demand)
                    {
                        Assert.Equal(0, allocation[i]);
                    }
                }
            }
        }, iter: 2_000);
    }

    [Fact]
    public void WithinAClassAnUnsatisfiedClaimantGetsAtLeastAsMuchPerWeightAsAnybodyToWithinOneUnit()
    {
        Input.Sample((capacity, requests) =>
        {
            var allocation = FairShare.Allocate(capacity, requests);
            for (var i = 0; i < requests.Length; i++)
            {
                if (allocation[i] >= requests[i].Demand)
                {
                    continue;
                }

                for (var j = 0; j < requests.Length; j++)
                {
                    if (requests[j].Priority != requests[i].Priority)
                    {
                        continue;
                    }

                    // (alloc_i + 1) / w_i >= alloc_j / w_j, cross-multiplied in exact integers (weights are 1..5).
                    var left = ((Int128)allocation[i] + 1) * (long)requests[j].Weight;
                    var right = (Int128)allocation[j] * (long)requests[i].Weight;
                    Assert.True(left >= right, $"claimant {i} ({allocation[i]} of {requests[i].Demand}, weight {requests[i].Weight}) is below claimant {j} ({allocation[j]}, weight {requests[j].Weight}) for capacity {capacity}");
                }
            }
        }, iter: 2_000);
    }

    [Fact]
    public void EqualWeightsAndDemandsGetSharesWithinOneUnitAndExactlyEqualWhenTheyDivide()
    {
        Gen.Select(Gen.Long[0, 100_000], Gen.Long[0, 100_000], Gen.Int[1, 12], Gen.Int[1, 4])
            .Sample((capacity, demand, n, weight) =>
            {
                var requests = Enumerable.Repeat(new ShareRequest(demand, weight), n).ToArray();
                var allocation = FairShare.Allocate(capacity, requests);
                Assert.InRange(allocation.Max() - allocation.Min(), 0, 1);
                if (capacity % n == 0 || (long)n * demand <= capacity)
                {
                    Assert.Equal(allocation.Max(), allocation.Min());
                }

                Assert.Equal(Math.Min(capacity, n * demand), allocation.Sum());
            }, iter: 2_000);
    }

    [Fact]
    public void EqualSaturatingDemandsAreFairByJainsIndex()
    {
        // Shares differ by at most one unit, so with at least 10 units each Jain's index is at least 0.99.
        Gen.Int[1, 50].SelectMany(n => Gen.Long[10L * n, 1_000_000].Select(capacity => (capacity, n)))
            .Sample((capacity, n) =>
            {
                var requests = Enumerable.Repeat(new ShareRequest(long.MaxValue / 64), n).ToArray();
                var allocation = FairShare.Allocate(capacity, requests);
                Assert.Equal(capacity, allocation.Sum());
                double sum = allocation.Sum();
                var jain = sum * sum / (n * allocation.Sum(a => (double)a * a));
                Assert.True(jain >= 0.99, $"Jain's index {jain} for capacity {capacity} over {n}");
            }, iter: 1_000);
    }

    [Fact]
    public void TheResultDoesNotDependOnTheOrderOfTheClaimants()
    {
        Input.Sample((capacity, requests) =>
        {
            var forward = FairShare.Allocate(capacity, requests);
            var reversed = FairShare.Allocate(capacity, requests.Reverse().ToArray());
            Array.Reverse(reversed);

            // Rounding leftovers go to the lower index, so allow one unit of difference per claimant.
            for (var i = 0; i < requests.Length; i++)
            {
                Assert.InRange(forward[i] - reversed[i], -1, 1);
            }
        }, iter: 1_000);
    }
}
