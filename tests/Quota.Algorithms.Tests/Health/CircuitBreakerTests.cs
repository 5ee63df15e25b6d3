using Quota.Algorithms.Health;

namespace Quota.Algorithms.Tests.Health;

/// <summary>Every transition of the circuit breaker, on fixed times with exact waits.</summary>
public sealed class CircuitBreakerTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 5, 0, 0, 0, TimeSpan.Zero);

    private static readonly TimeSpan OneTick = TimeSpan.FromTicks(1);

    private static DateTimeOffset At(double seconds) => T0 + TimeSpan.FromSeconds(seconds);

    /// <summary>Threshold 3, open 30 s, 2 successes to close, probe timeout 10 s.</summary>
    private static CircuitBreakerOptions Options(int failureThreshold = 3, int successesToClose = 2) => new()
    {
        FailureThreshold = failureThreshold,
        OpenDuration = TimeSpan.FromSeconds(30),
        SuccessesToClose = successesToClose,
        ProbeTimeout = TimeSpan.FromSeconds(10),
    };

    /// <summary>A breaker opened at <paramref name="openedAt"/> by three failures there.</summary>
    private static CircuitBreaker OpenedAt(DateTimeOffset openedAt, int successesToClose = 2)
    {
        var breaker = new CircuitBreaker(Options(successesToClose: successesToClose));
        for (var i = 0; i < 3; i++)
        {
            breaker.RecordFailure(openedAt);
        }

        Assert.Equal(CircuitState.Open, breaker.StateAt(openedAt));
        return breaker;
    }

    private static void AssertPasses(CircuitBreaker breaker, DateTimeOffset now)
    {
        Assert.True(breaker.TryPass(now, out var retryAfter), $"a call at {now:O} must pass");
        Assert.Equal(TimeSpan.Zero, retryAfter);
    }

    private static void AssertRejected(CircuitBreaker breaker, DateTimeOffset now, TimeSpan expectedRetryAfter)
    {
        Assert.False(breaker.TryPass(now, out var retryAfter), $"a call at {now:O} must be rejected");
        Assert.Equal(expectedRetryAfter, retryAfter);
    }

    private static CircuitSnapshot Closed(long timesOpened = 0, int consecutiveFailures = 0) =>
        new(CircuitState.Closed, consecutiveFailures, 0, null, null, timesOpened);

    // Options

    [Fact]
    public void TheDefaultsAreTheDocumentedOnesAndValid()
    {
        var options = new CircuitBreakerOptions();
        Assert.Equal(5, options.FailureThreshold);
        Assert.Equal(TimeSpan.FromSeconds(30), options.OpenDuration);
        Assert.Equal(2, options.SuccessesToClose);
        Assert.Equal(TimeSpan.FromSeconds(30), options.ProbeTimeout);
        Assert.Empty(options.Validate());
    }

    [Fact]
    public void TheSmallestValidValuesHaveNoErrors()
    {
        var options = new CircuitBreakerOptions
        {
            FailureThreshold = 1,
            OpenDuration = OneTick,
            SuccessesToClose = 1,
            ProbeTimeout = OneTick,
        };

        Assert.Empty(options.Validate());
        Assert.Equal(CircuitState.Closed, new CircuitBreaker(options).StateAt(T0));
    }

    [Fact]
    public void EachBadMemberIsReportedByName()
    {
        Assert.Equal(
            ["FailureThreshold must be at least 1 (got 0)."],
            new CircuitBreakerOptions { FailureThreshold = 0 }.Validate());
        Assert.Equal(
            ["FailureThreshold must be at least 1 (got -3)."],
            new CircuitBreakerOptions { FailureThreshold = -3 }.Validate());
        Assert.Equal(
            ["OpenDuration must be positive (got 00:00:00)."],
            new CircuitBreakerOptions { OpenDuration = TimeSpan.Zero }.Validate());
        Assert.Equal(
            ["SuccessesToClose must be at least 1 (got 0)."],
            new CircuitBreakerOptions { SuccessesToClose = 0 }.Validate());
        Assert.Equal(
            ["ProbeTimeout must be positive (got -00:00:00.0000001)."],
            new CircuitBreakerOptions { ProbeTimeout = -OneTick }.Validate());
    }

    [Fact]
    public void AllBadMembersAreListedAtOnce()
    {
        var options = new CircuitBreakerOptions
        {
            FailureThreshold = 0,
            OpenDuration = TimeSpan.FromSeconds(-5),
            SuccessesToClose = -1,
            ProbeTimeout = TimeSpan.Zero,
        };

        string[] expected =
        [
            "FailureThreshold must be at least 1 (got 0).",
            "OpenDuration must be positive (got -00:00:05).",
            "SuccessesToClose must be at least 1 (got -1).",
            "ProbeTimeout must be positive (got 00:00:00).",
        ];
        Assert.Equal(expected, options.Validate());

        var thrown = Assert.Throws<ArgumentException>(() => new CircuitBreaker(options));
        Assert.Equal("options", thrown.ParamName);
        foreach (var message in expected)
        {
            Assert.Contains(message, thrown.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void NullOptionsAreRejected()
    {
        Assert.Throws<ArgumentNullException>(() => new CircuitBreaker(null!));
    }

    // Closed

    [Fact]
    public void ANewBreakerIsClosedAndPassesEverything()
    {
        var breaker = new CircuitBreaker(Options());
        Assert.Equal(CircuitState.Closed, breaker.StateAt(T0));
        for (var i = 0; i < 100; i++)
        {
            AssertPasses(breaker, At(i));
        }

        Assert.Equal(Closed(), breaker.Snapshot(At(100)));
    }

    [Fact]
    public void OneFailureShortOfTheThresholdStaysClosed()
    {
        var breaker = new CircuitBreaker(Options(failureThreshold: 3));
        breaker.RecordFailure(At(1));
        breaker.RecordFailure(At(2));

        Assert.Equal(Closed(consecutiveFailures: 2), breaker.Snapshot(At(2)));
        AssertPasses(breaker, At(2));
    }

    [Fact]
    public void TheThresholdthFailureInARowOpensTheCircuitAtItsTime()
    {
        var breaker = new CircuitBreaker(Options(failureThreshold: 3));
        breaker.RecordFailure(At(1));
        breaker.RecordFailure(At(2));
        breaker.RecordFailure(At(3));

        Assert.Equal(
            new CircuitSnapshot(CircuitState.Open, 0, 0, At(3), At(33), 1),
            breaker.Snapshot(At(3)));
        AssertRejected(breaker, At(3), TimeSpan.FromSeconds(30));
    }

    [Fact]
    public void ASuccessInBetweenResetsTheFailureCount()
    {
        var breaker = new CircuitBreaker(Options(failureThreshold: 3));
        breaker.RecordFailure(At(1));
        breaker.RecordFailure(At(2));
        breaker.RecordSuccess(At(3));
        Assert.Equal(Closed(), breaker.Snapshot(At(3)));

        breaker.RecordFailure(At(4));
        breaker.RecordFailure(At(5));
        Assert.Equal(CircuitState.Closed, breaker.StateAt(At(5)));

        breaker.RecordFailure(At(6));
        Assert.Equal(CircuitState.Open, breaker.StateAt(At(6)));
        Assert.Equal(At(6), breaker.Snapshot(At(6)).OpenedAt);
    }

    [Fact]
    public void AThresholdOfOneOpensOnTheFirstFailure()
    {
        var breaker = new CircuitBreaker(Options(failureThreshold: 1));
        breaker.RecordFailure(T0);

        Assert.Equal(new CircuitSnapshot(CircuitState.Open, 0, 0, T0, At(30), 1), breaker.Snapshot(T0));
    }

    // Open

    [Fact]
    public void OpenRejectsWithTheExactTimeLeftUntilHalfOpen()
    {
        var breaker = OpenedAt(T0);
        AssertRejected(breaker, T0, TimeSpan.FromSeconds(30));
        AssertRejected(breaker, At(0.5), TimeSpan.FromSeconds(29.5));
        AssertRejected(breaker, At(10), TimeSpan.FromSeconds(20));
        AssertRejected(breaker, At(30) - OneTick, OneTick);
        Assert.Equal(CircuitState.Open, breaker.StateAt(At(30) - OneTick));
    }

    [Fact]
    public void OpenTurnsHalfOpenExactlyWhenTheOpenDurationHasPassed()
    {
        var breaker = OpenedAt(T0);
        Assert.Equal(CircuitState.Open, breaker.StateAt(At(30) - OneTick));
        Assert.Equal(CircuitState.HalfOpen, breaker.StateAt(At(30)));
        Assert.Equal(
            new CircuitSnapshot(CircuitState.HalfOpen, 0, 0, T0, At(30), 1),
            breaker.Snapshot(At(30)));
        AssertPasses(breaker, At(30));
    }

    [Fact]
    public void LateReportsWhileOpenChangeNothing()
    {
        var breaker = OpenedAt(T0);
        var before = breaker.Snapshot(At(5));

        for (var i = 0; i < 10; i++)
        {
            breaker.RecordSuccess(At(5));
            breaker.RecordFailure(At(5));
        }

        breaker.RecordSuccess(At(29));
        breaker.RecordFailure(At(29));

        Assert.Equal(before, breaker.Snapshot(At(5)));
        Assert.Equal(new CircuitSnapshot(CircuitState.Open, 0, 0, T0, At(30), 1), breaker.Snapshot(At(29)));
        AssertRejected(breaker, At(29), TimeSpan.FromSeconds(1));
        Assert.Equal(CircuitState.HalfOpen, breaker.StateAt(At(30)));
    }

    [Fact]
    public void AnOpenDurationTooLongToAddDoesNotOverflow()
    {
        var breaker = new CircuitBreaker(new CircuitBreakerOptions { FailureThreshold = 1, OpenDuration = TimeSpan.MaxValue });
        breaker.RecordFailure(T0);

        AssertRejected(breaker, T0, TimeSpan.MaxValue);
        AssertRejected(breaker, DateTimeOffset.MaxValue, TimeSpan.MaxValue - (DateTimeOffset.MaxValue - T0));
        Assert.Equal(
            new CircuitSnapshot(CircuitState.Open, 0, 0, T0, DateTimeOffset.MaxValue, 1),
            breaker.Snapshot(DateTimeOffset.MaxValue));
    }

    // Half-open: one probe at a time

    [Fact]
    public void HalfOpenAdmitsExactlyOneProbeAtATime()
    {
        var breaker = OpenedAt(T0);
        AssertPasses(breaker, At(30));
        AssertRejected(breaker, At(30), TimeSpan.FromSeconds(10));
        AssertRejected(breaker, At(33), TimeSpan.FromSeconds(7));
        AssertRejected(breaker, At(40) - OneTick, OneTick);
        Assert.Equal(CircuitState.HalfOpen, breaker.StateAt(At(39)));
    }

    [Fact]
    public void AProbeNeverReportedFreesItsSlotAfterTheProbeTimeout()
    {
        var breaker = OpenedAt(T0);
        AssertPasses(breaker, At(35));
        AssertRejected(breaker, At(45) - OneTick, OneTick);

        // Started at or before now - ProbeTimeout: the slot is free and the new probe starts now.
        AssertPasses(breaker, At(45));
        AssertRejected(breaker, At(45), TimeSpan.FromSeconds(10));
        AssertRejected(breaker, At(50), TimeSpan.FromSeconds(5));

        // A slot free for a long time is taken at once, and the wait counts from the new probe.
        AssertPasses(breaker, At(1_000));
        AssertRejected(breaker, At(1_001), TimeSpan.FromSeconds(9));
        Assert.Equal(new CircuitSnapshot(CircuitState.HalfOpen, 0, 0, T0, At(30), 1), breaker.Snapshot(At(1_001)));
    }

    [Fact]
    public void OneProbeSuccessClosesWhenOneIsEnough()
    {
        var breaker = OpenedAt(T0, successesToClose: 1);
        AssertPasses(breaker, At(30));
        breaker.RecordSuccess(At(31));

        Assert.Equal(Closed(timesOpened: 1), breaker.Snapshot(At(31)));
        AssertPasses(breaker, At(31));
        AssertPasses(breaker, At(31));
    }

    [Fact]
    public void SeveralProbeSuccessesAreNeededWhenConfigured()
    {
        var breaker = OpenedAt(T0, successesToClose: 3);

        AssertPasses(breaker, At(30));
        breaker.RecordSuccess(At(31));
        Assert.Equal(new CircuitSnapshot(CircuitState.HalfOpen, 0, 1, T0, At(30), 1), breaker.Snapshot(At(31)));

        // The success freed the slot: the next probe passes at once, and only one.
        AssertPasses(breaker, At(31));
        AssertRejected(breaker, At(32), TimeSpan.FromSeconds(9));
        breaker.RecordSuccess(At(32));
        Assert.Equal(new CircuitSnapshot(CircuitState.HalfOpen, 0, 2, T0, At(30), 1), breaker.Snapshot(At(32)));

        AssertPasses(breaker, At(33));
        breaker.RecordSuccess(At(34));
        Assert.Equal(Closed(timesOpened: 1), breaker.Snapshot(At(34)));
    }

    [Fact]
    public void AFailedProbeReopensTheCircuitAtItsTime()
    {
        var breaker = OpenedAt(T0);
        AssertPasses(breaker, At(30));
        breaker.RecordFailure(At(37));

        Assert.Equal(new CircuitSnapshot(CircuitState.Open, 0, 0, At(37), At(67), 2), breaker.Snapshot(At(37)));
        AssertRejected(breaker, At(37), TimeSpan.FromSeconds(30));
        AssertRejected(breaker, At(67) - OneTick, OneTick);

        // Half-open again with a free slot: the old probe's slot did not survive the reopening.
        AssertPasses(breaker, At(67));
    }

    [Fact]
    public void AFailedProbeAfterSomeSuccessesStartsTheCountAgain()
    {
        var breaker = OpenedAt(T0, successesToClose: 2);
        AssertPasses(breaker, At(30));
        breaker.RecordSuccess(At(30));
        AssertPasses(breaker, At(31));
        breaker.RecordFailure(At(31));
        Assert.Equal(new CircuitSnapshot(CircuitState.Open, 0, 0, At(31), At(61), 2), breaker.Snapshot(At(31)));

        AssertPasses(breaker, At(61));
        breaker.RecordSuccess(At(61));
        Assert.Equal(CircuitState.HalfOpen, breaker.StateAt(At(61)));
        AssertPasses(breaker, At(62));
        breaker.RecordSuccess(At(62));
        Assert.Equal(Closed(timesOpened: 2), breaker.Snapshot(At(62)));
    }

    [Fact]
    public void HalfOpenLastsUntilAProbeReports()
    {
        var breaker = OpenedAt(T0);
        Assert.Equal(CircuitState.HalfOpen, breaker.StateAt(At(86_400)));
        breaker.RecordFailure(At(86_400));
        Assert.Equal(new CircuitSnapshot(CircuitState.Open, 0, 0, At(86_400), At(86_430), 2), breaker.Snapshot(At(86_400)));
    }

    [Fact]
    public void WhileHalfOpenAnyReportedOutcomeCountsAsTheProbes()
    {
        // Outcomes carry no identity: a report with no probe in flight (say, a call made before the circuit
        // opened that took longer than the open duration) is taken as a probe outcome.
        var success = OpenedAt(T0);
        success.RecordSuccess(At(30));
        Assert.Equal(new CircuitSnapshot(CircuitState.HalfOpen, 0, 1, T0, At(30), 1), success.Snapshot(At(30)));

        var failure = OpenedAt(T0);
        failure.RecordFailure(At(30));
        Assert.Equal(new CircuitSnapshot(CircuitState.Open, 0, 0, At(30), At(60), 2), failure.Snapshot(At(30)));
    }

    [Fact]
    public void AfterClosingFailuresAreCountedFromZero()
    {
        var breaker = OpenedAt(T0, successesToClose: 1);
        AssertPasses(breaker, At(30));
        breaker.RecordSuccess(At(30));

        breaker.RecordFailure(At(31));
        breaker.RecordFailure(At(32));
        Assert.Equal(Closed(timesOpened: 1, consecutiveFailures: 2), breaker.Snapshot(At(32)));

        breaker.RecordFailure(At(33));
        Assert.Equal(new CircuitSnapshot(CircuitState.Open, 0, 0, At(33), At(63), 2), breaker.Snapshot(At(33)));
    }

    // Reset

    [Fact]
    public void ResetClosesAnOpenCircuitAndKeepsTimesOpened()
    {
        var breaker = OpenedAt(T0);
        breaker.Reset();

        Assert.Equal(Closed(timesOpened: 1), breaker.Snapshot(At(1)));
        AssertPasses(breaker, At(1));
    }

    [Fact]
    public void ResetClosesAHalfOpenCircuitAndFreesItsProbeSlot()
    {
        var breaker = OpenedAt(T0, successesToClose: 3);
        AssertPasses(breaker, At(30));
        breaker.RecordSuccess(At(30));
        AssertPasses(breaker, At(31));
        breaker.Reset();

        Assert.Equal(Closed(timesOpened: 1), breaker.Snapshot(At(31)));

        // Counting starts over: threshold failures reopen it, and its first probe is not blocked by the old one.
        breaker.RecordFailure(At(32));
        breaker.RecordFailure(At(32));
        breaker.RecordFailure(At(32));
        Assert.Equal(new CircuitSnapshot(CircuitState.Open, 0, 0, At(32), At(62), 2), breaker.Snapshot(At(32)));
        AssertPasses(breaker, At(62));
    }

    [Fact]
    public void ResetZeroesPartialFailureCounts()
    {
        var breaker = new CircuitBreaker(Options(failureThreshold: 3));
        breaker.RecordFailure(T0);
        breaker.RecordFailure(T0);
        breaker.Reset();
        breaker.RecordFailure(T0);
        breaker.RecordFailure(T0);

        Assert.Equal(Closed(consecutiveFailures: 2), breaker.Snapshot(T0));
    }

    // Time out of order

    [Fact]
    public void AnEarlierTimeWhileOpenCountsAsTheLatestTimeSeen()
    {
        var breaker = OpenedAt(T0);
        AssertRejected(breaker, At(10), TimeSpan.FromSeconds(20));
        AssertRejected(breaker, At(5), TimeSpan.FromSeconds(20));
        AssertRejected(breaker, DateTimeOffset.MinValue, TimeSpan.FromSeconds(20));
    }

    [Fact]
    public void AnEarlierTimeDoesNotTurnAHalfOpenCircuitBackToOpen()
    {
        var breaker = OpenedAt(T0);
        Assert.Equal(CircuitState.HalfOpen, breaker.StateAt(At(30)));
        Assert.Equal(CircuitState.HalfOpen, breaker.StateAt(At(29)));
        AssertPasses(breaker, At(29));
    }

    [Fact]
    public void AnEarlierTimeDoesNotFreeOrExtendAProbeSlot()
    {
        var breaker = OpenedAt(T0);
        AssertPasses(breaker, At(35));
        AssertRejected(breaker, At(40), TimeSpan.FromSeconds(5));
        AssertRejected(breaker, At(36), TimeSpan.FromSeconds(5));

        // The slot was taken at the latest time seen, not at the earlier time passed.
        AssertPasses(breaker, At(45));
        AssertRejected(breaker, At(44), TimeSpan.FromSeconds(10));
    }

    [Fact]
    public void AFailureReportedWithAnEarlierTimeOpensAtTheLatestTimeSeen()
    {
        var closed = new CircuitBreaker(Options(failureThreshold: 1));
        Assert.True(closed.TryPass(At(10), out _));
        closed.RecordFailure(At(9));
        Assert.Equal(new CircuitSnapshot(CircuitState.Open, 0, 0, At(10), At(40), 1), closed.Snapshot(At(9)));

        var halfOpen = OpenedAt(T0);
        AssertPasses(halfOpen, At(50));
        halfOpen.RecordFailure(At(45));
        Assert.Equal(new CircuitSnapshot(CircuitState.Open, 0, 0, At(50), At(80), 2), halfOpen.Snapshot(At(45)));
    }

    [Fact]
    public void TimesAreComparedAsInstantsWhateverTheirOffset()
    {
        var breaker = OpenedAt(T0);
        var plusTwo = TimeSpan.FromHours(2);

        // 02:00:10 at +02:00 is 00:00:10 UTC: 20 seconds left, not two hours past.
        AssertRejected(breaker, new DateTimeOffset(2026, 1, 5, 2, 0, 10, plusTwo), TimeSpan.FromSeconds(20));
        Assert.Equal(CircuitState.HalfOpen, breaker.StateAt(new DateTimeOffset(2026, 1, 5, 2, 0, 30, plusTwo)));

        var snapshot = breaker.Snapshot(At(30));
        Assert.Equal(TimeSpan.Zero, snapshot.OpenedAt!.Value.Offset);
        Assert.Equal(T0, snapshot.OpenedAt);
    }
}
