using Quota.Algorithms.Allocation;

namespace Quota.Algorithms.Tests.Allocation;

/// <summary>The adaptive quota rule with its default thresholds, on hand-computed cases.</summary>
public sealed class AdaptiveQuotaTests
{
    private const long Plenty = 1_000;

    private static AdaptiveChange Evaluate(long quota, double average, long peak, long headroom = Plenty, long minimum = 0, long maximum = long.MaxValue) =>
        AdaptiveQuota.Evaluate(new AdaptiveInput(quota, average, peak, headroom, minimum, maximum));

    [Fact]
    public void HighUseRaisesBy20Percent()
    {
        Assert.Equal(new AdaptiveChange(30, 36, AdaptiveReason.HighUse), Evaluate(30, 29, 30));
        Assert.True(Evaluate(30, 29, 30).Changed);
    }

    [Fact]
    public void ARaiseIsAtMostTenPermits()
    {
        Assert.Equal(new AdaptiveChange(100, 110, AdaptiveReason.HighUse), Evaluate(100, 95, 100));
        Assert.Equal(new AdaptiveChange(50, 60, AdaptiveReason.HighUse), Evaluate(50, 46, 55));
        Assert.Equal(new AdaptiveChange(45, 54, AdaptiveReason.HighUse), Evaluate(45, 45, 45));
    }

    [Fact]
    public void ARaiseIsAtLeastOnePermitSoSmallQuotasCanGrow()
    {
        Assert.Equal(new AdaptiveChange(3, 4, AdaptiveReason.HighUse), Evaluate(3, 3, 3));
        Assert.Equal(new AdaptiveChange(1, 2, AdaptiveReason.HighUse), Evaluate(1, 1, 1));
    }

    [Fact]
    public void AverageUseOfExactlyNinetyPercentDoesNotRaise()
    {
        Assert.Equal(new AdaptiveChange(30, 30, AdaptiveReason.Steady), Evaluate(30, 27, 30));
        Assert.Equal(AdaptiveReason.HighUse, Evaluate(30, 27.01, 30).Reason);
    }

    [Fact]
    public void APeakBelowTheQuotaDoesNotRaise()
    {
        Assert.Equal(new AdaptiveChange(30, 30, AdaptiveReason.Steady), Evaluate(30, 29, 29));
        Assert.False(Evaluate(30, 29, 29).Changed);
    }

    [Fact]
    public void LowUseLowersBy10Percent()
    {
        Assert.Equal(new AdaptiveChange(30, 27, AdaptiveReason.LowUse), Evaluate(30, 5, 10));
    }

    [Fact]
    public void ACutIsAtMostFivePermits()
    {
        Assert.Equal(new AdaptiveChange(100, 95, AdaptiveReason.LowUse), Evaluate(100, 10, 40));
        Assert.Equal(new AdaptiveChange(1_000_000, 999_995, AdaptiveReason.LowUse), Evaluate(1_000_000, 0, 0));
    }

    [Fact]
    public void AverageUseOfExactlyThirtyPercentDoesNotLower()
    {
        Assert.Equal(new AdaptiveChange(30, 30, AdaptiveReason.Steady), Evaluate(30, 9, 30));
        Assert.Equal(AdaptiveReason.LowUse, Evaluate(30, 8.99, 30).Reason);
    }

    [Fact]
    public void TheFloorOfTenHolds()
    {
        Assert.Equal(new AdaptiveChange(11, 10, AdaptiveReason.LowUse), Evaluate(11, 0, 0));
        Assert.Equal(new AdaptiveChange(12, 11, AdaptiveReason.LowUse), Evaluate(12, 1, 1));
        Assert.Equal(new AdaptiveChange(10, 10, AdaptiveReason.Steady), Evaluate(10, 0, 0));
        Assert.Equal(new AdaptiveChange(5, 5, AdaptiveReason.Steady), Evaluate(5, 0, 0));
    }

    [Fact]
    public void HeadroomCapsARaise()
    {
        Assert.Equal(new AdaptiveChange(30, 32, AdaptiveReason.HighUse), Evaluate(30, 29, 30, headroom: 2));
        Assert.Equal(new AdaptiveChange(30, 30, AdaptiveReason.HighUseCapped), Evaluate(30, 29, 30, headroom: 0));
        Assert.Equal(new AdaptiveChange(30, 30, AdaptiveReason.HighUseCapped), Evaluate(30, 29, 30, headroom: -7));
    }

    [Fact]
    public void TheTenantMaximumCapsARaise()
    {
        Assert.Equal(new AdaptiveChange(50, 53, AdaptiveReason.HighUse), Evaluate(50, 50, 50, maximum: 53));
        Assert.Equal(new AdaptiveChange(50, 50, AdaptiveReason.HighUseCapped), Evaluate(50, 50, 50, maximum: 50));
        Assert.Equal(new AdaptiveChange(50, 50, AdaptiveReason.HighUseCapped), Evaluate(50, 50, 50, maximum: 40));
    }

    [Fact]
    public void TheTenantMinimumStopsACut()
    {
        Assert.Equal(new AdaptiveChange(50, 48, AdaptiveReason.LowUse), Evaluate(50, 1, 1, minimum: 48));
        Assert.Equal(new AdaptiveChange(50, 50, AdaptiveReason.Steady), Evaluate(50, 1, 1, minimum: 50));

        // A minimum below the rule's floor does not lower the floor.
        Assert.Equal(new AdaptiveChange(11, 10, AdaptiveReason.LowUse), Evaluate(11, 0, 0, minimum: 2));

        // A quota already below the minimum is not raised by a low-use step.
        Assert.Equal(new AdaptiveChange(20, 20, AdaptiveReason.Steady), Evaluate(20, 0, 0, minimum: 25));
    }

    [Fact]
    public void UseBetweenTheThresholdsChangesNothing()
    {
        Assert.Equal(new AdaptiveChange(100, 100, AdaptiveReason.Steady), Evaluate(100, 50, 100));
    }

    [Fact]
    public void ANonPositiveQuotaIsLeftAlone()
    {
        Assert.Equal(new AdaptiveChange(0, 0, AdaptiveReason.Steady), Evaluate(0, 100, 100));
        Assert.Equal(new AdaptiveChange(-3, -3, AdaptiveReason.Steady), Evaluate(-3, 0, 0));
    }

    [Fact]
    public void CustomOptionsReplaceTheDefaults()
    {
        var options = new AdaptiveQuotaOptions { RaiseAbove = 0.5, RaiseFraction = 1.0, MaxRaiseStep = 1_000, LowerBelow = 0.1, Floor = 1 };
        Assert.Equal(new AdaptiveChange(40, 80, AdaptiveReason.HighUse), AdaptiveQuota.Evaluate(new AdaptiveInput(40, 30, 40, Plenty), options));
        Assert.Equal(new AdaptiveChange(2, 1, AdaptiveReason.LowUse), AdaptiveQuota.Evaluate(new AdaptiveInput(2, 0, 0, Plenty), options));
    }

    [Fact]
    public void AHugeQuotaIsRaisedByTheCapWithoutOverflow()
    {
        Assert.Equal(new AdaptiveChange(long.MaxValue - 10, long.MaxValue, AdaptiveReason.HighUse), Evaluate(long.MaxValue - 10, long.MaxValue, long.MaxValue));
        Assert.Equal(new AdaptiveChange(long.MaxValue, long.MaxValue, AdaptiveReason.HighUseCapped), Evaluate(long.MaxValue, long.MaxValue, long.MaxValue));
    }
}
