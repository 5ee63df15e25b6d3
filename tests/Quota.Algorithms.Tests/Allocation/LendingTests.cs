using CsCheck;
using Quota.Algorithms.Allocation;

namespace Quota.Algorithms.Tests.Allocation;

/// <summary>A pool's answer to one tenant (<see cref="LendingPlan"/>): exact cases and the never-more-than-it-has property.</summary>
public sealed class LendingTests
{
    [Fact]
    public void AnIdlePoolLendsTheWholeUnlentCapacityToTheOnlyTenantAsking()
    {
        // The issue's pool: 285 less four reserves of 20 = 205 to lend, everybody idle, one tenant bursts.
        var plan = LendingPlan.For(205, [new(180), new(0), new(0), new(0)], [0, 0, 0, 0], asker: 0);
        Assert.Equal(180, plan.Grant);
        Assert.Empty(plan.Shrink);
        Assert.Equal(25, LendingPlan.UnlentAfter(205, plan.Grant, [0, 0, 0, 0], 0));

        var all = LendingPlan.For(205, [new(1000), new(0), new(0), new(0)], [0, 0, 0, 0], asker: 0);
        Assert.Equal(205, all.Grant);
        Assert.Equal(0, LendingPlan.UnlentAfter(205, all.Grant, [0, 0, 0, 0], 0));
    }

    [Fact]
    public void TheAskersDemandCountsAtOnceAndItsOldLeaseIsReplaced()
    {
        // It held 10 for a demand of 10; now it asks 60 and the other two hold their demands: it gets its demand.
        var plan = LendingPlan.For(205, [new(60), new(50), new(50)], [10, 50, 50], asker: 0);
        Assert.Equal(60, plan.Grant);
        Assert.Equal([60L, 50L, 50L], plan.Shares);
    }

    [Fact]
    public void WhenOthersHoldMoreThanTheirSharesTheAskerGetsWhatIsUnlentAndTheyAreAskedToShrink()
    {
        // One tenant took everything while alone; a second starts: shares 103/102, it may take only the 0 unlent
        // until the first shrinks to 103, then 102.
        var plan = LendingPlan.For(205, [new(1000), new(1000)], [205, 0], asker: 1);
        Assert.Equal([103L, 102L], plan.Shares);
        Assert.Equal(0, plan.Grant);
        Assert.Equal([0], plan.Shrink);
        Assert.Equal(102, LendingPlan.GrantAfter(205, plan.Share, [103, 0], 1));

        // A revision that was not acknowledged keeps the lease counted: still nothing.
        Assert.Equal(0, LendingPlan.GrantAfter(205, plan.Share, [205, 0], 1));
    }

    [Fact]
    public void WeightsTwoToOneToOneSplitWhatIsUnlentTwoToOneToOne()
    {
        var requests = new ShareRequest[] { new(1000, 2), new(1000, 1), new(1000, 1) };
        var plan = LendingPlan.For(204, requests, [0, 0, 0], asker: 2);
        Assert.Equal([102L, 51L, 51L], plan.Shares);
        Assert.Equal(51, plan.Grant);
    }

    [Fact]
    public void AHigherClassIsServedFirstAndALowerClassAskerGetsWhatItLeaves()
    {
        var plan = LendingPlan.For(100, [new(70, 1, 1), new(1000, 1, 0)], [70, 0], asker: 1);
        Assert.Equal(30, plan.Grant);
        Assert.Empty(plan.Shrink);
    }

    [Fact]
    public void GuaranteesAreTheSharesIfEverybodyWantedAllItMay()
    {
        Assert.Equal([52L, 51L, 51L, 51L], LendingPlan.Guarantees(205, [new(205), new(205), new(205), new(205)]));
        Assert.Equal([103L, 51L, 51L], LendingPlan.Guarantees(205, [new(205, 2), new(205, 1), new(205, 1)]));

        // A burst caps what a tenant may want; what it leaves goes to the others.
        Assert.Equal([10L, 98L, 97L], LendingPlan.Guarantees(205, [new(10), new(205), new(205)]));
    }

    [Fact]
    public void InvalidInputsAreRejected()
    {
        Assert.Throws<ArgumentException>(() => LendingPlan.For(10, [new(1)], [0, 0], 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => LendingPlan.For(10, [new(1)], [0], 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => LendingPlan.For(10, [new(1)], [-1], 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => LendingPlan.For(-1, [new(1)], [0], 0));
    }

    private static readonly Gen<ShareRequest> Request =
        Gen.Select(
            Gen.Frequency((6, Gen.Long[0, 300]), (1, Gen.Long[0, long.MaxValue / 4])),
            Gen.Int[1, 4],
            Gen.Frequency((4, Gen.Const(0)), (1, Gen.Int[0, 2])),
            (demand, weight, priority) => new ShareRequest(demand, weight, priority));

    /// <summary>A pool's life: who asks, with what demand, and whether each revision it sends is acknowledged.</summary>
    private static readonly Gen<(long Lendable, ShareRequest[] Tenants, (int Asker, long Demand, bool Acknowledged)[] Steps)> Life =
        Gen.Select(Gen.Frequency((6, Gen.Long[0, 600]), (1, Gen.Long[0, long.MaxValue])), Request.Array[1, 8])
            .SelectMany(x => Gen.Select(Gen.Int[0, x.Item2.Length - 1], Gen.Frequency((4, Gen.Long[0, 400]), (1, Gen.Long[0, long.MaxValue / 4])), Gen.Bool)
                .Array[1, 40]
                .Select(steps => (x.Item1, x.Item2, steps)));

    [Fact]
    public void ThePoolNeverLendsMoreThanItHasWhateverTheOrderOfAsksAndAcknowledgements()
    {
        Life.Sample((lendable, tenants, steps) =>
        {
            var requests = tenants.ToArray();
            var held = new long[tenants.Length];
            foreach (var (asker, demand, acknowledged) in steps)
            {
                requests[asker] = requests[asker] with { Demand = demand };
                var plan = LendingPlan.For(lendable, requests, held, asker);
                Assert.InRange(plan.Grant, 0, plan.Share);
                var granted = plan.Grant;
                if (plan.Shrink.Count > 0)
                {
                    foreach (var i in plan.Shrink)
                    {
                        Assert.True(held[i] > plan.Shares[i]);
                        if (acknowledged)
                        {
                            held[i] = plan.Shares[i];
                        }
                    }

                    granted = LendingPlan.GrantAfter(lendable, plan.Share, held, asker);
                    Assert.InRange(granted, plan.Grant, plan.Share);
                    if (acknowledged)
                    {
                        // Every lease above its share came down, so the asker has its whole share.
                        Assert.Equal(plan.Share, granted);
                    }
                }

                held[asker] = granted;
                Int128 lent = 0;
                foreach (var h in held)
                {
                    lent += h;
                }

                Assert.True(lent <= lendable, $"lent {lent} of {lendable}: [{string.Join(", ", held)}]");
                Assert.Equal(lendable - lent, (Int128)LendingPlan.UnlentAfter(lendable, granted, held, asker));
            }
        }, iter: 2_000);
    }

    [Fact]
    public void EqualTenantsAskingInTurnEndWithinOneOfEachOther()
    {
        // However they interleave, once every tenant asked with a saturating demand and every revision was
        // acknowledged, each holds its fair share: within one of the others.
        Gen.Select(Gen.Long[0, 10_000], Gen.Int[1, 10]).SelectMany(x => Gen.Int[0, x.Item2 - 1].Array[0, 30].Select(order => (x.Item1, x.Item2, order)))
            .Sample((lendable, n, order) =>
            {
                var requests = Enumerable.Repeat(new ShareRequest(1_000_000), n).ToArray();
                var held = new long[n];
                foreach (var asker in order.Concat(Enumerable.Range(0, n)))
                {
                    var plan = LendingPlan.For(lendable, requests, held, asker);
                    foreach (var i in plan.Shrink)
                    {
                        held[i] = plan.Shares[i];
                    }

                    held[asker] = LendingPlan.GrantAfter(lendable, plan.Share, held, asker);
                }

                Assert.Equal(lendable, held.Sum());
                Assert.InRange(held.Max() - held.Min(), 0, 1);
            }, iter: 1_000);
    }
}
