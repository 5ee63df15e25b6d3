using Quota.Algorithms.Limiting;

namespace Quota.Algorithms.Tests.Limiting;

/// <summary>Every invalid field is reported, all at once, each message naming its field.</summary>
public sealed class PolicyValidationTests
{
    private static PolicyDefinition Valid(AlgorithmKind algorithm) => algorithm switch
    {
        AlgorithmKind.Calendar => new() { Name = "ok", Algorithm = algorithm, Limit = 10, Period = CalendarPeriod.Day, TimeZone = "Europe/Warsaw" },
        AlgorithmKind.Concurrency => new() { Name = "ok", Algorithm = algorithm, Limit = 10, LeaseTtl = TimeSpan.FromMinutes(1) },
        _ => new() { Name = "ok", Algorithm = algorithm, Limit = 10, Window = TimeSpan.FromMinutes(1) },
    };

    private static string SingleError(PolicyDefinition policy)
    {
        var errors = policy.Validate();
        return Assert.Single(errors);
    }

    public static readonly TheoryData<AlgorithmKind> AllAlgorithms = new(Enum.GetValues<AlgorithmKind>());

    public static readonly TheoryData<AlgorithmKind> WindowedAlgorithms = new(
        AlgorithmKind.TokenBucket, AlgorithmKind.SlidingWindow, AlgorithmKind.SlidingLog, AlgorithmKind.FixedWindow);

    [Theory]
    [MemberData(nameof(AllAlgorithms))]
    public void TheValidDefinitionsUsedHereHaveNoErrors(AlgorithmKind algorithm)
    {
        Assert.Empty(Valid(algorithm).Validate());
        Assert.NotNull(Valid(algorithm).CreateLimiter());
    }

    [Theory]
    [MemberData(nameof(WindowedAlgorithms))]
    public void AZeroNegativeOrOverlongWindowIsReported(AlgorithmKind algorithm)
    {
        foreach (var window in new[] { TimeSpan.Zero, TimeSpan.FromTicks(-1), TimeSpan.MinValue, PolicyDefinition.MaxWindow + TimeSpan.FromTicks(1), TimeSpan.MaxValue })
        {
            var error = SingleError(Valid(algorithm) with { Window = window });
            Assert.StartsWith("window: must be positive", error, StringComparison.Ordinal);
        }

        Assert.Empty((Valid(algorithm) with { Window = PolicyDefinition.MaxWindow }).Validate());
        Assert.Empty((Valid(algorithm) with { Window = TimeSpan.FromTicks(1) }).Validate());
    }

    [Fact]
    public void AMissingWindowIsReported()
    {
        var policy = new PolicyDefinition { Name = "no-window", Algorithm = AlgorithmKind.FixedWindow, Limit = 10 };
        Assert.StartsWith("window:", SingleError(policy), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0L)]
    [InlineData(-1L)]
    [InlineData(long.MinValue)]
    public void ABurstBelowOneIsReported(long burst)
    {
        var error = SingleError(Valid(AlgorithmKind.TokenBucket) with { Burst = burst });
        Assert.StartsWith("burst: must be at least 1", error, StringComparison.Ordinal);
        Assert.Empty((Valid(AlgorithmKind.TokenBucket) with { Burst = 1 }).Validate());
    }

    [Theory]
    [MemberData(nameof(AllAlgorithms))]
    public void ALimitAboveTenToTheTwelfthIsReported(AlgorithmKind algorithm)
    {
        if (algorithm == AlgorithmKind.SlidingLog)
        {
            return; // bounded far lower (10,000), below
        }

        Assert.Empty((Valid(algorithm) with { Limit = PolicyDefinition.MaxLimit, Burst = null }).Validate());
        foreach (var limit in new[] { PolicyDefinition.MaxLimit + 1, long.MaxValue })
        {
            var error = SingleError(Valid(algorithm) with { Limit = limit });
            Assert.Equal($"limit: must be at most 1000000000000 (10^12; got {limit}); set it to the number of permits allowed.", error);
        }
    }

    [Fact]
    public void ABurstAboveTenToTheTwelfthIsReported()
    {
        var error = SingleError(Valid(AlgorithmKind.TokenBucket) with { Limit = PolicyDefinition.MaxLimit, Burst = long.MaxValue });

        Assert.StartsWith("burst: must be at most 1000000000000 (10^12; got 9223372036854775807)", error, StringComparison.Ordinal);
        Assert.Empty((Valid(AlgorithmKind.TokenBucket) with { Limit = PolicyDefinition.MaxLimit, Burst = PolicyDefinition.MaxLimit }).Validate());
    }

    [Fact]
    public void ABucketThatTakesMoreThanTenYearsToRefillIsReported()
    {
        // 2 permits at 1 per 10 years take 20 years to come back: resetAfterMs would not be a duration anyone can use.
        var slow = Valid(AlgorithmKind.TokenBucket) with { Limit = 1, Window = PolicyDefinition.MaxWindow, Burst = 2 };
        Assert.StartsWith("burst: 2 permits at 1 per", SingleError(slow), StringComparison.Ordinal);

        // Exactly ten years is allowed: 10^12 permits at 10^12 per 10 years, or 1 at 1.
        Assert.Empty((slow with { Burst = 1 }).Validate());
        Assert.Empty((slow with { Limit = PolicyDefinition.MaxLimit, Burst = PolicyDefinition.MaxLimit }).Validate());
        Assert.Empty((Valid(AlgorithmKind.TokenBucket) with { Limit = 1, Window = TimeSpan.FromHours(1), Burst = 87_000 }).Validate());
        Assert.Single((Valid(AlgorithmKind.TokenBucket) with { Limit = 1, Window = TimeSpan.FromHours(1), Burst = 88_000 }).Validate());
    }

    [Fact]
    public void ASlidingLogLimitAboveTenThousandIsReported()
    {
        Assert.Empty((Valid(AlgorithmKind.SlidingLog) with { Limit = 10_000 }).Validate());
        var error = SingleError(Valid(AlgorithmKind.SlidingLog) with { Limit = 10_001 });
        Assert.StartsWith("limit: a sliding-log keeps one entry per grant", error, StringComparison.Ordinal);
        Assert.Contains("10001", error, StringComparison.Ordinal);

        // The same limit is fine for a sliding window.
        Assert.Empty((Valid(AlgorithmKind.SlidingWindow) with { Limit = 10_001 }).Validate());
    }

    [Theory]
    [InlineData("Mars/Olympus_Mons")]
    [InlineData("")]
    [InlineData("europe/warsaw ")]
    public void AnUnknownTimeZoneIsReported(string zone)
    {
        var error = SingleError(Valid(AlgorithmKind.Calendar) with { TimeZone = zone });
        Assert.StartsWith("timeZone:", error, StringComparison.Ordinal);
        Assert.Contains($"'{zone}'", error, StringComparison.Ordinal);
    }

    [Fact]
    public void ANullTimeZoneIsReportedNotThrown()
    {
        var error = SingleError(Valid(AlgorithmKind.Calendar) with { TimeZone = null! });
        Assert.StartsWith("timeZone:", error, StringComparison.Ordinal);
    }

    [Fact]
    public void AMissingOrUndefinedPeriodIsReported()
    {
        Assert.StartsWith("period:", SingleError(Valid(AlgorithmKind.Calendar) with { Period = null }), StringComparison.Ordinal);
        Assert.StartsWith("period:", SingleError(Valid(AlgorithmKind.Calendar) with { Period = (CalendarPeriod)7 }), StringComparison.Ordinal);
    }

    [Fact]
    public void AnUndefinedFirstDayOfWeekIsReported()
    {
        var error = SingleError(Valid(AlgorithmKind.Calendar) with { FirstDayOfWeek = (DayOfWeek)7 });
        Assert.StartsWith("firstDayOfWeek:", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("has space")]
    [InlineData("slash/name")]
    [InlineData("ünïcode")]
    [InlineData("line\nbreak")]
    [InlineData("per-minute\n")]
    [InlineData("a-name-that-is-exactly-sixty-five-characters-long-xxxxxxxxxxxxxxx")]
    public void ABadNameIsReported(string name)
    {
        var error = SingleError(Valid(AlgorithmKind.FixedWindow) with { Name = name });
        Assert.StartsWith("name:", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("per-minute")]
    [InlineData("a")]
    [InlineData("v1.daily_quota")]
    [InlineData("a-name-that-is-exactly-sixty-four-characters-long-xxxxxxxxxxxxxx")]
    public void GoodNamesPass(string name)
    {
        Assert.Equal(64, "a-name-that-is-exactly-sixty-four-characters-long-xxxxxxxxxxxxxx".Length);
        Assert.Empty((Valid(AlgorithmKind.FixedWindow) with { Name = name }).Validate());
    }

    [Fact]
    public void ANullNameIsReportedNotThrown()
    {
        Assert.StartsWith("name:", SingleError(Valid(AlgorithmKind.FixedWindow) with { Name = null! }), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0L)]
    [InlineData(-1L)]
    [InlineData(long.MinValue)]
    public void ANonPositiveLeaseTtlIsReported(long ticks)
    {
        var error = SingleError(Valid(AlgorithmKind.Concurrency) with { LeaseTtl = TimeSpan.FromTicks(ticks) });
        Assert.StartsWith("leaseTtl: must be positive", error, StringComparison.Ordinal);
    }

    [Fact]
    public void AnOverlongLeaseTtlIsReported()
    {
        var error = SingleError(Valid(AlgorithmKind.Concurrency) with { LeaseTtl = PolicyDefinition.MaxWindow + TimeSpan.FromTicks(1) });
        Assert.StartsWith("leaseTtl:", error, StringComparison.Ordinal);
    }

    [Fact]
    public void AnUndefinedAlgorithmIsReported()
    {
        var error = SingleError(Valid(AlgorithmKind.FixedWindow) with { Algorithm = (AlgorithmKind)42 });
        Assert.StartsWith("algorithm: 42 is not an algorithm", error, StringComparison.Ordinal);
    }

    [Fact]
    public void FieldsThatDoNotApplyToTheAlgorithmAreNotChecked()
    {
        // A concurrency policy has no window and a windowed one has no lease TTL.
        Assert.Empty((Valid(AlgorithmKind.Concurrency) with { Window = TimeSpan.Zero }).Validate());
        Assert.Empty((Valid(AlgorithmKind.FixedWindow) with { LeaseTtl = TimeSpan.Zero, TimeZone = "nowhere" }).Validate());
    }

    [Fact]
    public void EveryErrorOfACalendarPolicyIsCollectedAtOnce()
    {
        var policy = new PolicyDefinition
        {
            Name = "bad name",
            Algorithm = AlgorithmKind.Calendar,
            Limit = 0,
            TimeZone = "Nowhere/Special",
            FirstDayOfWeek = (DayOfWeek)9,
        };

        var errors = policy.Validate();
        Assert.Equal(["name", "limit", "period", "timeZone", "firstDayOfWeek"], errors.Select(Field));

        var thrown = Assert.Throws<InvalidPolicyException>(policy.CreateLimiter);
        Assert.Equal(errors, thrown.Errors);
        Assert.Equal("bad name", thrown.PolicyName);
        foreach (var error in errors)
        {
            Assert.Contains(error, thrown.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void EveryErrorOfATokenBucketIsCollectedAtOnce()
    {
        var policy = new PolicyDefinition
        {
            Name = "",
            Algorithm = AlgorithmKind.TokenBucket,
            Limit = -5,
            Window = TimeSpan.FromSeconds(-1),
            Burst = 0,
        };

        Assert.Equal(["name", "limit", "window", "burst"], policy.Validate().Select(Field));
    }

    [Fact]
    public void EveryErrorOfASlidingLogIsCollectedAtOnce()
    {
        var policy = new PolicyDefinition
        {
            Name = "log!",
            Algorithm = AlgorithmKind.SlidingLog,
            Limit = 20_000,
            Window = TimeSpan.Zero,
        };

        Assert.Equal(["name", "window", "limit"], policy.Validate().Select(Field));
    }

    [Fact]
    public void EveryErrorOfAConcurrencyPolicyIsCollectedAtOnce()
    {
        var policy = new PolicyDefinition
        {
            Name = new string('x', 65),
            Algorithm = AlgorithmKind.Concurrency,
            Limit = 0,
            LeaseTtl = TimeSpan.Zero,
        };

        Assert.Equal(["name", "limit", "leaseTtl"], policy.Validate().Select(Field));
    }

    [Theory]
    [MemberData(nameof(AllAlgorithms))]
    public void EachLimiterConstructorRejectsAnInvalidPolicyAndAPolicyOfAnotherAlgorithm(AlgorithmKind algorithm)
    {
        var invalid = Valid(algorithm) with { Limit = 0 };
        var other = Valid(algorithm == AlgorithmKind.FixedWindow ? AlgorithmKind.SlidingWindow : AlgorithmKind.FixedWindow);
        Func<PolicyDefinition, Limiter> construct = algorithm switch
        {
            AlgorithmKind.TokenBucket => p => new TokenBucketLimiter(p),
            AlgorithmKind.SlidingWindow => p => new SlidingWindowLimiter(p),
            AlgorithmKind.SlidingLog => p => new SlidingLogLimiter(p),
            AlgorithmKind.FixedWindow => p => new FixedWindowLimiter(p),
            AlgorithmKind.Concurrency => p => new ConcurrencyLimiter(p),
            _ => p => new CalendarQuotaLimiter(p),
        };

        Assert.StartsWith("limit:", Assert.Single(Assert.Throws<InvalidPolicyException>(() => construct(invalid)).Errors), StringComparison.Ordinal);
        Assert.StartsWith("algorithm: expected", Assert.Single(Assert.Throws<InvalidPolicyException>(() => construct(other)).Errors), StringComparison.Ordinal);
        Assert.Throws<ArgumentNullException>(() => construct(null!));
    }

    private static string Field(string error) => error[..error.IndexOf(':', StringComparison.Ordinal)];
}
